# Reads the measurement groups of a TID 1500 report with pydicom: per
# group its tracking identifier, finding, image region (graphic type,
# data, frame of reference, image) and numeric measurements. Prints JSON.
import json, sys
import pydicom

def code(seq):
    if not seq:
        return None
    c = seq[0]
    return [str(c.get("CodeValue") or c.get("LongCodeValue") or ""), str(c.CodingSchemeDesignator), str(c.CodeMeaning)]

ds = pydicom.dcmread(sys.argv[1])
groups = []
for top in ds.ContentSequence:
    if code(top.ConceptNameCodeSequence)[0] != "126010":
        continue
    for g in top.ContentSequence:
        out = {"tracking": "", "finding": None, "region": None, "nums": []}
        for c in g.ContentSequence:
            cn = code(c.ConceptNameCodeSequence)
            vt = c.ValueType
            if cn[0] == "112039":
                out["tracking"] = str(c.TextValue)
            elif cn[0] == "121071":
                out["finding"] = code(c.ConceptCodeSequence)
            elif vt in ("SCOORD", "SCOORD3D") and out["region"] is None:
                r = {"vt": vt, "type": str(c.GraphicType), "data": [float(x) for x in c.GraphicData]}
                if vt == "SCOORD3D":
                    r["frame"] = str(c.ReferencedFrameOfReferenceUID)
                out["region"] = r
            elif vt == "NUM" and c.get("MeasuredValueSequence"):
                mv = c.MeasuredValueSequence[0]
                out["nums"].append({"concept": cn, "value": float(mv.NumericValue), "unit": code(mv.MeasurementUnitsCodeSequence)[0]})
        groups.append(out)
print(json.dumps(groups))
