# Checks a COCO annotations.json the way pycocotools reads it, with an
# independent transcription of maskApi.c's rleFrString/rleDecode/rleToBbox.
# Prints {"errors": [...], "masks": {annotation id: {"area", "bbox", "pixels": [[x, y], ...]}}}.
import json, sys

def runs_of(s):
    cnts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, 1
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << 5 * k
            more = c & 0x20
            p += 1; k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return cnts

doc = json.load(open(sys.argv[1]))
errors = []
for key in ("images", "annotations", "categories"):
    if not isinstance(doc.get(key), list):
        errors.append("no list " + key)
images = {}
for im in doc["images"]:
    for f in ("id", "file_name", "width", "height"):
        if f not in im:
            errors.append("image without " + f)
    images[im["id"]] = im
cats = {c["id"] for c in doc["categories"] if "name" in c and "supercategory" in c}
masks = {}
for a in doc["annotations"]:
    for f in ("id", "image_id", "category_id", "area", "bbox", "iscrowd"):
        if f not in a:
            errors.append("annotation %s without %s" % (a.get("id"), f))
    if a["image_id"] not in images:
        errors.append("annotation %d on unknown image" % a["id"])
    if a["category_id"] not in cats:
        errors.append("annotation %d of unknown category" % a["id"])
    seg = a.get("segmentation")
    if isinstance(seg, dict):
        h, w = seg["size"]
        im = images[a["image_id"]]
        if [h, w] != [im["height"], im["width"]]:
            errors.append("annotation %d mask size %s, image %dx%d" % (a["id"], seg["size"], im["width"], im["height"]))
        cnts = runs_of(seg["counts"])
        if sum(cnts) != h * w:
            errors.append("annotation %d runs cover %d of %d" % (a["id"], sum(cnts), h * w))
        pix, pos = [], 0
        for i, n in enumerate(cnts):
            if i % 2:
                pix += [(j // h, j % h) for j in range(pos, pos + n)]
            pos += n
        xs = [p[0] for p in pix]; ys = [p[1] for p in pix]
        masks[a["id"]] = {"area": len(pix), "bbox": [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1] if pix else [0, 0, 0, 0], "pixels": [list(p) for p in pix]}
    elif isinstance(seg, list):
        for poly in seg:
            if len(poly) < 6 or len(poly) % 2:
                errors.append("annotation %d polygon of %d numbers" % (a["id"], len(poly)))
print(json.dumps({"errors": errors, "masks": masks}))
