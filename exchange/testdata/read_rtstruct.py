# Reads an RT Structure Set with pydicom. Per ROI: number, name, colour,
# generation algorithm, identification code, contour types, and the
# volume its closed planar contours enclose (sum over contours of the
# signed polygon area, holes winding the other way, times the slice
# spacing given as argv[2]). With a series folder as argv[3] it also
# rasterises every closed planar contour independently: even-odd at pixel
# centres on the slice whose ImagePositionPatient is in the contour's
# plane, and lists the voxels as [SOPInstanceUID, column, row]; and
# places every POINT and OPEN_PLANAR contour on the slice nearest its
# first point: "marks" lists each one's type, patient points, that
# slice's SOPInstanceUID, the first point's distance from its plane (mm)
# and the points in pixel-corner image coordinates. Prints JSON.
import json, os, sys
import pydicom

ds = pydicom.dcmread(sys.argv[1], force=True)
spacing = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
slices = []
if len(sys.argv) > 3:
    for name in sorted(os.listdir(sys.argv[3])):
        try:
            im = pydicom.dcmread(os.path.join(sys.argv[3], name), stop_before_pixels=True)
        except Exception:
            continue
        if "ImagePositionPatient" not in im:
            continue
        slices.append(im)

def sub(a, b): return [a[0]-b[0], a[1]-b[1], a[2]-b[2]]
def dot(a, b): return a[0]*b[0] + a[1]*b[1] + a[2]*b[2]
def cross(a, b): return [a[1]*b[2]-a[2]*b[1], a[2]*b[0]-a[0]*b[2], a[0]*b[1]-a[1]*b[0]]

def rasterise(pts):
    for im in slices:
        o = [float(v) for v in im.ImagePositionPatient]
        iop = [float(v) for v in im.ImageOrientationPatient]
        r, c = iop[:3], iop[3:]
        n = cross(r, c)
        if abs(dot(sub(pts[0], o), n)) > 0.1:
            continue
        dr, dc = float(im.PixelSpacing[0]), float(im.PixelSpacing[1])
        # pixel-corner coordinates: x = column + 0.5 at the pixel centre
        poly = [(dot(sub(p, o), r) / dc + 0.5, dot(sub(p, o), c) / dr + 0.5) for p in pts]
        xs = [p[0] for p in poly]; ys = [p[1] for p in poly]
        out = []
        for j in range(max(0, int(min(ys)) - 1), min(int(im.Rows), int(max(ys)) + 2)):
            for i in range(max(0, int(min(xs)) - 1), min(int(im.Columns), int(max(xs)) + 2)):
                x, y = i + 0.5, j + 0.5
                inside = False
                for k in range(len(poly)):
                    a, b = poly[k], poly[(k + 1) % len(poly)]
                    if (a[1] <= y) != (b[1] <= y):
                        if x < a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]):
                            inside = not inside
                if inside:
                    out.append((str(im.SOPInstanceUID), i, j))
        return out
    return None

def place(pts):
    best = None
    for im in slices:
        o = [float(v) for v in im.ImagePositionPatient]
        iop = [float(v) for v in im.ImageOrientationPatient]
        r, c = iop[:3], iop[3:]
        d = abs(dot(sub(pts[0], o), cross(r, c)))
        if best is None or d < best[0]:
            best = (d, im, o, r, c)
    d, im, o, r, c = best
    dr, dc = float(im.PixelSpacing[0]), float(im.PixelSpacing[1])
    return str(im.SOPInstanceUID), d, [[dot(sub(p, o), r) / dc + 0.5, dot(sub(p, o), c) / dr + 0.5] for p in pts]

names = {int(r.ROINumber): r for r in ds.StructureSetROISequence}
codes = {}
for ob in ds.get("RTROIObservationsSequence", []):
    if "RTROIIdentificationCodeSequence" in ob:
        c = ob.RTROIIdentificationCodeSequence[0]
        codes[int(ob.ReferencedROINumber)] = [str(c.CodeValue), str(c.CodingSchemeDesignator)]
rois = []
for rc in ds.ROIContourSequence:
    num = int(rc.ReferencedROINumber)
    roi = {"number": num, "name": str(names[num].ROIName), "algorithm": str(names[num].get("ROIGenerationAlgorithm", "")),
           "color": [int(v) for v in rc.get("ROIDisplayColor", [])], "code": codes.get(num), "types": {}, "contours": 0, "volume": 0.0,
           "voxels": None, "offslice": 0, "marks": []}
    parity = {}
    for c in rc.get("ContourSequence", []):
        t = str(c.ContourGeometricType)
        roi["types"][t] = roi["types"].get(t, 0) + 1
        roi["contours"] += 1
        d = [float(v) for v in c.ContourData]
        pts = [d[i:i+3] for i in range(0, len(d), 3)]
        if t in ("POINT", "OPEN_PLANAR") and slices:
            uid, d, pix = place(pts)
            roi["marks"].append({"type": t, "lps": pts, "image": uid, "distance": d, "pixels": pix})
        if t != "CLOSED_PLANAR":
            continue
        s = [0.0, 0.0, 0.0]
        for k in range(len(pts)):
            cr = cross(pts[k], pts[(k + 1) % len(pts)])
            s = [s[0]+cr[0], s[1]+cr[1], s[2]+cr[2]]
        roi["volume"] += 0.5 * s[2] * spacing  # axial: the normal is +z
        if slices:
            vox = rasterise(pts)
            if vox is None:
                roi["offslice"] += 1
                continue
            for v in vox:  # even-odd across the contours of a slice
                parity[v] = not parity.get(v, False)
    if slices:
        roi["voxels"] = sorted([list(v) for v, on in parity.items() if on])
    rois.append(roi)
print(json.dumps({"sop_class": str(ds.SOPClassUID), "frame": str(ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID), "rois": rois}))
