# Flattens an SR document's content tree with pydicom: one entry per
# content item with its path, value type, concept code and value, the way
# sr.Node.Walk visits it. Prints JSON.
import json, sys
import pydicom

def code(seq):
    if not seq:
        return None
    c = seq[0]
    v = c.get("CodeValue") or c.get("LongCodeValue") or c.get("URNCodeValue") or ""
    return [str(v), str(c.get("CodingSchemeDesignator", "")), str(c.get("CodeMeaning", ""))]

out = []
def walk(path, it):
    e = {"path": path, "vt": str(it.get("ValueType", "")), "concept": code(it.get("ConceptNameCodeSequence"))}
    vt = e["vt"]
    if vt == "NUM" and it.get("MeasuredValueSequence"):
        mv = it.MeasuredValueSequence[0]
        # Floating Point Value, when present, is the exact value the DS approximates
        e["num"] = float(mv.FloatingPointValue) if "FloatingPointValue" in mv else float(mv.NumericValue)
        e["unit"] = code(mv.MeasurementUnitsCodeSequence)
    if vt == "CODE":
        e["code"] = code(it.ConceptCodeSequence)
    if vt in ("SCOORD", "SCOORD3D"):
        e["graphicType"] = str(it.GraphicType)
        e["data"] = [float(x) for x in it.GraphicData]
    if vt == "TEXT":
        e["text"] = str(it.TextValue)
    if vt == "UIDREF":
        e["text"] = str(it.UID)
    refs = []
    for r in it.get("ReferencedSOPSequence", []):
        refs.append(str(r.ReferencedSOPInstanceUID))
    e["refs"] = refs
    out.append(e)
    for i, c in enumerate(it.get("ContentSequence", [])):
        walk(path + [i + 1], c)

walk([], pydicom.dcmread(sys.argv[1]))
print(json.dumps(out))
