# An independent COCO RLE encoder, transcribed from pycocotools'
# maskApi.c (rleEncode, rleToString). Reads JSON cases on stdin:
# [{"h":H,"w":W,"mask":[row-major 0/1...]}], prints the counts strings.
import json, sys

def encode(h, w, mask):
    flat = [mask[y * w + x] for x in range(w) for y in range(h)]  # column-major
    cnts, p, c = [], 0, 0
    for v in flat:
        if v != p:
            cnts.append(c); c = 0; p = v
        c += 1
    cnts.append(c)
    s = []
    for i, x in enumerate(cnts):
        if i > 2:
            x -= cnts[i - 2]
        more = True
        while more:
            ch = x & 0x1f
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            s.append(chr(ch + 48))
    return "".join(s)

print(json.dumps([encode(c["h"], c["w"], c["mask"]) for c in json.load(sys.stdin)]))
