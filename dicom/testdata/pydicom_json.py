"""Print pydicom's DICOM JSON for each file named on the command line.

Used by the Go tests as the reference reading: one JSON line per file,
{"file": ..., "json": {...}} or {"file": ..., "error": ...}. Pixel data
elements are left out (compared separately), binary values are inlined.
"""
import json
import sys
import warnings

import pydicom

warnings.simplefilter("ignore")


def strip_pixels(d):
    for k in list(d):
        if k.upper().startswith("7FE0"):
            del d[k]


for path in sys.argv[1:]:
    try:
        ds = pydicom.dcmread(path, force=True)
        ds.decode()
        out = ds.to_json_dict(bulk_data_threshold=1 << 40)
        strip_pixels(out)
        print(json.dumps({"file": path, "json": out}))
    except Exception as e:  # noqa: BLE001 - report every failure to the caller
        print(json.dumps({"file": path, "error": repr(e)}))
