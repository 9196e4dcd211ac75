# compare_nifti.py OURS REF: compares two NIfTI images of the same series
# that may store the axes in a different order or direction (dcm2niix flips
# rows). Prints JSON: the index map from ours to the reference, the affine
# error in mm after that map, and the largest voxel difference.
import json, sys
import numpy as np
import nibabel as nib

ours, ref = nib.load(sys.argv[1]), nib.load(sys.argv[2])
A, B = ours.affine, ref.affine
M = np.linalg.inv(B) @ A  # our index -> reference index
R = np.round(M)
out = {"ours_shape": list(ours.shape), "ref_shape": list(ref.shape),
       "index_map": R.tolist(), "affine_err_mm": float(np.abs(B @ R - A).max())}
P, t = R[:3, :3], R[:3, 3]
ok = all(np.count_nonzero(P[r]) == 1 for r in range(3))
od = np.asarray(ours.get_fdata(dtype=np.float64))
rd = np.squeeze(np.asarray(ref.get_fdata(dtype=np.float64)))
if ok:
    perm = [int(np.nonzero(P[r])[0][0]) for r in range(3)]
    x = np.transpose(od, perm)
    for r in range(3):
        if P[r, perm[r]] < 0:
            x = np.flip(x, axis=r)
    out["offset_ok"] = bool(all((P[r, perm[r]] > 0 and t[r] == 0) or
                               (P[r, perm[r]] < 0 and t[r] == od.shape[perm[r]] - 1) for r in range(3)))
    out["same_shape"] = list(x.shape) == list(rd.shape)
    if out["same_shape"]:
        out["max_abs_diff"] = float(np.abs(x - rd).max())
        out["voxels"] = int(x.size)
out["permutation_ok"] = bool(ok)
print(json.dumps(out))
