# check_nnunet.py DIR: validates an nnU-Net v2 raw dataset folder the way
# nnU-Net reads it and prints JSON with what it found.
import json, os, sys
import numpy as np
import nibabel as nib

d = sys.argv[1]
ds = json.load(open(os.path.join(d, "dataset.json")))
errors = []
for key in ("channel_names", "labels", "numTraining", "file_ending"):
    if key not in ds:
        errors.append("dataset.json lacks " + key)
if ds.get("labels", {}).get("background") != 0:
    errors.append("labels.background is not 0")
ids = sorted(ds["labels"].values())
if ids != list(range(len(ids))):
    errors.append("label ids are not consecutive from 0: %r" % ids)
fe = ds["file_ending"]
labels = sorted(f for f in os.listdir(os.path.join(d, "labelsTr")) if f.endswith(fe))
if len(labels) != ds["numTraining"]:
    errors.append("numTraining %d but %d label files" % (ds["numTraining"], len(labels)))
cases = []
for f in labels:
    case = f[: -len(fe)]
    lab = nib.load(os.path.join(d, "labelsTr", f))
    for ch in ds["channel_names"]:
        p = os.path.join(d, "imagesTr", "%s_%04d%s" % (case, int(ch), fe))
        if not os.path.exists(p):
            errors.append("missing " + p)
            continue
        img = nib.load(p)
        if img.shape != lab.shape or np.abs(img.affine - lab.affine).max() > 1e-4:
            errors.append("%s: image and label grids differ" % case)
    vals = np.unique(np.asarray(lab.dataobj))
    if not set(int(v) for v in vals) <= set(ids):
        errors.append("%s holds values %r outside the labels" % (case, vals))
    cases.append({"case": case, "values": [int(v) for v in vals]})
dl = json.load(open(os.path.join(d, "datalist.json")))
for e in dl["training"]:
    for k in ("image", "label"):
        if not os.path.exists(os.path.join(d, e[k])):
            errors.append("datalist names missing " + e[k])
print(json.dumps({"errors": errors, "cases": cases, "dataset": ds}))
