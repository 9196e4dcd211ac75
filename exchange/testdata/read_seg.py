# read_seg.py FILE: pydicom's reading of a DICOM SEG as JSON: segments and,
# per frame, the segment, the plane position and the number of voxels set
# (above half the maximum for a fractional SEG).
import json, sys
import numpy as np
import pydicom

ds = pydicom.dcmread(sys.argv[1])
frac = ds.SegmentationType == "FRACTIONAL"
maxv = float(getattr(ds, "MaximumFractionalValue", 255)) if frac else 1
arr = ds.pixel_array
if int(getattr(ds, "NumberOfFrames", 1)) == 1:
    arr = arr[np.newaxis]
shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None

def code(seq):
    c = seq[0]
    return [str(c.CodeValue), str(c.CodingSchemeDesignator), str(c.CodeMeaning)]

out = {"sop_class": str(ds.SOPClassUID), "frames": [], "segments": [],
       "rows": int(ds.Rows), "columns": int(ds.Columns)}
for s in ds.SegmentSequence:
    out["segments"].append({"number": int(s.SegmentNumber), "label": str(s.SegmentLabel),
                            "category": code(s.SegmentedPropertyCategoryCodeSequence),
                            "type": code(s.SegmentedPropertyTypeCodeSequence),
                            "algorithm": str(s.SegmentAlgorithmType)})
for n, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
    si = fg.SegmentIdentificationSequence if "SegmentIdentificationSequence" in fg else shared.SegmentIdentificationSequence
    f = {"segment": int(si[0].ReferencedSegmentNumber)}
    if "PlanePositionSequence" in fg:
        f["ipp"] = [float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient]
    frame = arr[n].astype(np.float64)
    f["count"] = int(np.count_nonzero(frame > maxv / 2)) if frac else int(np.count_nonzero(frame))
    out["frames"].append(f)
print(json.dumps(out))
