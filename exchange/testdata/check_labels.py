# check_labels.py IMAGE LABELS X Y Z: reads both with nibabel and prints
# JSON: whether shapes and affines agree, and the label at LPS (X, Y, Z).
import json, sys
import numpy as np
import nibabel as nib

img, lab = nib.load(sys.argv[1]), nib.load(sys.argv[2])
x, y, z = (float(v) for v in sys.argv[3:6])
ijk = np.linalg.inv(lab.affine) @ np.array([-x, -y, z, 1.0])
idx = tuple(int(round(v)) for v in ijk[:3])
data = np.asarray(lab.dataobj)
print(json.dumps({"same_shape": img.shape == lab.shape,
                  "affine_diff": float(np.abs(img.affine - lab.affine).max()),
                  "index": list(idx), "label": int(data[idx]),
                  "counts": {int(v): int(c) for v, c in zip(*np.unique(data, return_counts=True))}}))
