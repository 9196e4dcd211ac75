"""Independent computations for package volume's tests, with pydicom,
numpy and nibabel (Debian's /usr/bin/python3).

Usage: peer.py MODE [ARGS] < request.json > answer.json

  pixels   request: [{"path", "frame", "points": [[i, j, L, P, S], ...]}]
           For each pixel centre (column i, row j) of the frame (1-based,
           0 = single-frame), computes IPP + i*colspacing*rowdir +
           j*rowspacing*coldir from the file's own attributes and returns
           the largest distance to the given LPS, per entry and overall.
  values   request: [{"path", "frame", "samples": [[i, j, value], ...]}]
           Compares values with pydicom's pixel_array through the modality
           LUT (rescale, per frame for enhanced objects, or the Modality
           LUT Sequence).
  nifti    ARGS: path.nii; request: {"points": [[L, P, S, value], ...]}
           Maps each LPS point to the NIfTI voxel of dcm2niix's sform
           (RAS), and returns how far the nearest voxel centre is (mm) and
           how much the voxel's scaled value differs, plus the sform and
           shape.
"""
import json
import sys

import numpy as np
import pydicom


def frame_attr(ds, frame, seq, keyword):
    """An attribute of a frame: Per-frame Functional Groups, then Shared,
    then the top level."""
    if frame >= 1 and "PerFrameFunctionalGroupsSequence" in ds:
        items = ds.PerFrameFunctionalGroupsSequence
        if frame - 1 < len(items) and seq in items[frame - 1]:
            m = getattr(items[frame - 1], seq)[0]
            if keyword in m:
                return getattr(m, keyword)
    if "SharedFunctionalGroupsSequence" in ds:
        sh = ds.SharedFunctionalGroupsSequence[0]
        if seq in sh:
            m = getattr(sh, seq)[0]
            if keyword in m:
                return getattr(m, keyword)
    return ds.get(keyword)


def pixels(req):
    out, worst = [], 0.0
    for e in req:
        ds = pydicom.dcmread(e["path"], stop_before_pixels=True)
        f = e["frame"]
        ipp = np.array(frame_attr(ds, f, "PlanePositionSequence", "ImagePositionPatient"), float)
        iop = np.array(frame_attr(ds, f, "PlaneOrientationSequence", "ImageOrientationPatient"), float)
        ps = np.array(frame_attr(ds, f, "PixelMeasuresSequence", "PixelSpacing"), float)
        rowdir, coldir = iop[:3], iop[3:]
        err = 0.0
        for i, j, l, p, s in e["points"]:
            want = ipp + i * ps[1] * rowdir + j * ps[0] * coldir
            err = max(err, float(np.linalg.norm(want - np.array([l, p, s]))))
        worst = max(worst, err)
        out.append({"path": e["path"], "frame": f, "max_mm": err})
    return {"max_mm": worst, "entries": out}


def stored_bits(ds, arr):
    """Keeps the BitsStored low bits of integer samples, sign-extended
    when PixelRepresentation is 1 (PS3.5 8.1.1: the bits above HighBit are
    not part of the value). pydicom 2.3's pixel_array leaves them as
    stored, so a signed 12-bit 0x0FFF reads 4095 instead of -1."""
    if arr.dtype.kind not in "iu":
        return arr
    alloc, stored = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
    if stored >= alloc or stored >= 32:
        return arr
    mask = (1 << stored) - 1
    a = arr.astype(np.int64) & mask
    if int(ds.get("PixelRepresentation", 0)) == 1:
        sign = 1 << (stored - 1)
        a = (a ^ sign) - sign
    return a


def values(req):
    from pydicom.pixel_data_handlers.util import apply_modality_lut

    out, worst = [], 0.0
    cache = {}
    for e in req:
        path, f = e["path"], e["frame"]
        if path not in cache:
            cache[path] = pydicom.dcmread(path)
        ds = cache[path]
        arr = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            arr = arr[f - 1]
        arr = stored_bits(ds, arr)
        slope = frame_attr(ds, f, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = frame_attr(ds, f, "PixelValueTransformationSequence", "RescaleIntercept")
        if slope is not None or intercept is not None:
            vals = arr.astype(np.float64) * float(slope if slope is not None else 1) + float(intercept or 0)
        else:
            vals = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
        err, rel = 0.0, 0.0
        for i, j, v in e["samples"]:
            want = float(vals[j, i])
            err = max(err, abs(want - v))
            rel = max(rel, abs(want - v) / max(1.0, abs(want)))
        worst = max(worst, err)
        out.append({"path": path, "frame": f, "max_diff": err, "max_rel": rel})
    return {"max_diff": worst, "entries": out}


def nifti(path, req):
    import nibabel as nib

    img = nib.load(path)
    sform = img.header.get_sform()
    inv = np.linalg.inv(sform)
    data = img.get_fdata()
    max_mm, max_diff, outside = 0.0, 0.0, 0
    for l, p, s, v in req["points"]:
        ras = np.array([-l, -p, s, 1.0])
        ijk = inv @ ras
        idx = np.rint(ijk[:3]).astype(int)
        if np.any(idx < 0) or np.any(idx >= np.array(data.shape[:3])):
            outside += 1
            continue
        centre = sform @ np.array([idx[0], idx[1], idx[2], 1.0])
        max_mm = max(max_mm, float(np.linalg.norm(centre[:3] - ras[:3])))
        got = data[tuple(idx)] if data.ndim == 3 else data[tuple(idx) + (0,)]
        max_diff = max(max_diff, abs(float(got) - v))
    return {"sform": sform.tolist(), "shape": list(data.shape), "max_mm": max_mm,
            "max_value_diff": max_diff, "outside": outside}


def main():
    mode = sys.argv[1]
    req = json.load(sys.stdin)
    if mode == "pixels":
        ans = pixels(req)
    elif mode == "values":
        ans = values(req)
    elif mode == "nifti":
        ans = nifti(sys.argv[2], req)
    else:
        raise SystemExit("unknown mode " + mode)
    json.dump(ans, sys.stdout)


if __name__ == "__main__":
    main()
