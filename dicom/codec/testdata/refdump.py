#!/usr/bin/python3
"""Test helper for package codec: dump compressed frames and reference pixels.

usage: refdump.py [--syntaxes=UID,UID...] OUTDIR FILE[=TOOL] ...

A FILE ending in .json is a stream made by a Go test: {"ts", "rows",
"columns", "samples", "bits_allocated", "bits_stored", "pixel_representation",
"photometric", "frames": [paths of codestreams]}. It is wrapped into a DICOM
file (encapsulated pixel data) beside the .json first.

For the i-th FILE it writes OUTDIR/<i>/:
  meta.json   the Image Pixel module, transfer syntax and what the reference
              decoder reported (photometric interpretation after decoding)
  f<k>.bin    frame k's compressed bytes (its fragments concatenated)
  r<k>.bin    frame k decoded by the reference tool, as uncompressed explicit
              VR little endian holds it, colour-by-pixel

TOOL picks the reference decoder: dcmtk (dcmdrle/dcmdjpeg/dcmdjpls by
syntax), gdcm (gdcmconv --raw), openjph (ojph_expand, for HTJ2K: only
8-bit and 16-bit grayscale or RGB, which PGM/PPM hold), native:PATH (the native pixel data of another,
uncompressed file holding the same frames) or none (frames only). The default
is dcmtk for RLE and JPEG, gdcm for JPEG-LS and JPEG 2000, openjph for HTJ2K. With --syntaxes,
files in other transfer syntaxes only get a meta.json with "skipped": true.

The Go tests call this with Debian's /usr/bin/python3 (python3-pydicom) until
radmark's own parser extracts frames; it reads no pixel data itself beyond
splitting the encapsulated Pixel Data into frames.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import pydicom
from pydicom.encaps import generate_pixel_data_frame

# pydicom warns about the malformed files on stderr; the Go tests report
# what matters.
warnings.simplefilter('ignore')

RLE = '1.2.840.10008.1.2.5'
JPEG = {'1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.53',
        '1.2.840.10008.1.2.4.55', '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70'}
JLS = {'1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81'}
HTJ2K = {'1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.202', '1.2.840.10008.1.2.4.203'}


def default_tool(ts):
    if ts == RLE or ts in JPEG:
        return 'dcmtk'
    if ts in HTJ2K:
        return 'openjph'
    return 'gdcm'


def reference(tool, ts, src, dst):
    if tool == 'gdcm':
        cmd = ['gdcmconv', '--raw', src, dst]
    elif ts == RLE:
        cmd = ['dcmdrle', src, dst]
    elif ts in JPEG:
        cmd = ['dcmdjpeg', src, dst]
    elif ts in JLS:
        cmd = ['dcmdjpls', src, dst]
    else:
        raise ValueError('dcmtk has no decoder for ' + ts)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not os.path.exists(dst):
        raise RuntimeError('%s failed: %s' % (' '.join(cmd), p.stderr.strip()))


def openjph_frames(frames, tmp):
    """Decode HTJ2K codestreams with OpenJPH's ojph_expand, via PGM/PPM."""
    if shutil.which('ojph_expand') is None:
        raise RuntimeError('ojph_expand is not installed (Debian package openjph-tools)')
    out = []
    for k, fr in enumerate(frames):
        src = os.path.join(tmp, 'f%d.j2c' % k)
        with open(src, 'wb') as fh:
            fh.write(fr)
        for ext in ('ppm', 'pgm'):
            dst = os.path.join(tmp, 'f%d.%s' % (k, ext))
            p = subprocess.run(['ojph_expand', '-i', src, '-o', dst], capture_output=True, text=True)
            if p.returncode == 0 and os.path.exists(dst):
                break
        else:
            raise RuntimeError('ojph_expand failed: %s' % (p.stdout + p.stderr).strip())
        with open(dst, 'rb') as fh:
            data = fh.read()
        # Netpbm header: magic, width, height, maxval, then one whitespace.
        fields, pos = [], 0
        while len(fields) < 4:
            while data[pos:pos + 1].isspace():
                pos += 1
            start = pos
            while not data[pos:pos + 1].isspace():
                pos += 1
            fields.append(data[start:pos])
        pixels = data[pos + 1:]
        if int(fields[3]) > 255:  # 16-bit Netpbm is big endian
            pixels = b''.join(pixels[i:i + 2][::-1] for i in range(0, len(pixels), 2))
        out.append(pixels)
    return out


def native_frames(path, nframes):
    ds = pydicom.dcmread(path, force=True)
    data = bytes(ds.PixelData)
    if ds.file_meta.TransferSyntaxUID == '1.2.840.10008.1.2.2':
        if ds.BitsAllocated in (16, 32):
            w = ds.BitsAllocated // 8
            data = b''.join(data[i:i + w][::-1] for i in range(0, len(data), w))
    spp = int(ds.SamplesPerPixel)
    ba = int(ds.BitsAllocated)
    npx = int(ds.Rows) * int(ds.Columns) * spp
    frames = []
    for k in range(nframes):
        if ba == 1:
            bits = [(data[(k * npx + i) >> 3] >> ((k * npx + i) & 7)) & 1 for i in range(npx)] \
                if npx % 8 else None
            if bits is None:
                frames.append(data[k * npx // 8:(k + 1) * npx // 8])
                continue
            out = bytearray((npx + 7) // 8)
            for i, b in enumerate(bits):
                out[i >> 3] |= b << (i & 7)
            frames.append(bytes(out))
            continue
        n = npx * ba // 8
        f = data[k * n:(k + 1) * n]
        if spp > 1 and int(ds.get('PlanarConfiguration', 0) or 0) == 1:
            plane = n // spp
            w = ba // 8
            f = b''.join(f[s * plane + i:s * plane + i + w]
                         for i in range(0, plane, w) for s in range(spp))
        frames.append(f)
    return ds, frames


def wrap(spec_path):
    """Wrap the codestreams a Go test wrote into a Secondary Capture file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import generate_uid
    with open(spec_path) as fh:
        spec = json.load(fh)
    fm = FileMetaDataset()
    fm.TransferSyntaxUID = spec['ts']
    fm.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.7'
    fm.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID = fm.MediaStorageSOPClassUID
    ds.SOPInstanceUID = fm.MediaStorageSOPInstanceUID
    ds.Modality = 'OT'
    ds.Rows, ds.Columns = spec['rows'], spec['columns']
    ds.SamplesPerPixel = spec['samples']
    ds.PhotometricInterpretation = spec['photometric']
    if spec['samples'] > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored = spec['bits_allocated'], spec['bits_stored']
    ds.HighBit = spec['bits_stored'] - 1
    ds.PixelRepresentation = spec['pixel_representation']
    frames = []
    for f in spec['frames']:
        with open(f, 'rb') as fh:
            frames.append(fh.read())
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.PixelData = encapsulate(frames)
    ds['PixelData'].VR = 'OB'
    ds['PixelData'].is_undefined_length = True
    ds.is_little_endian, ds.is_implicit_VR = True, False
    dst = os.path.splitext(spec_path)[0] + '.dcm'
    ds.save_as(dst, write_like_original=False)
    return dst


def main():
    args = sys.argv[1:]
    only = None
    if args and args[0].startswith('--syntaxes='):
        only = set(args.pop(0).split('=', 1)[1].split(','))
    outdir = args[0]
    for i, arg in enumerate(args[1:]):
        path, _, tool = arg.partition('=')
        d = os.path.join(outdir, str(i))
        os.makedirs(d, exist_ok=True)
        meta = {'path': path}
        try:
            if path.endswith('.json'):
                path = wrap(path)
            ds = pydicom.dcmread(path, force=True)
            ts = str(getattr(ds.file_meta, 'TransferSyntaxUID', ''))
            if only is not None and ts not in only:
                meta.update(ts=ts, skipped=True)
                with open(os.path.join(d, 'meta.json'), 'w') as fh:
                    json.dump(meta, fh)
                continue
            nf = int(ds.get('NumberOfFrames', 1) or 1)
            meta.update(ts=ts, frames=nf, rows=int(ds.Rows), columns=int(ds.Columns),
                        samples=int(ds.SamplesPerPixel), bits_allocated=int(ds.BitsAllocated),
                        bits_stored=int(ds.BitsStored),
                        pixel_representation=int(ds.PixelRepresentation),
                        planar_configuration=int(ds.get('PlanarConfiguration', 0) or 0),
                        photometric=str(ds.PhotometricInterpretation))
            for k, fr in enumerate(generate_pixel_data_frame(ds.PixelData, nf)):
                with open(os.path.join(d, 'f%d.bin' % k), 'wb') as fh:
                    fh.write(fr)
            tool = tool or default_tool(ts)
            meta['tool'] = tool
            if tool.startswith('native:'):
                rds, frames = native_frames(tool[len('native:'):], nf)
                meta['ref_photometric'] = str(rds.PhotometricInterpretation)
                meta['ref_bits_allocated'] = int(rds.BitsAllocated)
                for k, fr in enumerate(frames):
                    with open(os.path.join(d, 'r%d.bin' % k), 'wb') as fh:
                        fh.write(fr)
            elif tool == 'openjph':
                with tempfile.TemporaryDirectory() as tmp:
                    frames = openjph_frames(list(generate_pixel_data_frame(ds.PixelData, nf)), tmp)
                # OpenJPH applies the inverse colour transform: colour is RGB.
                meta['ref_photometric'] = 'RGB' if meta['samples'] == 3 else meta['photometric']
                meta['ref_bits_allocated'] = meta['bits_allocated']
                for k, fr in enumerate(frames):
                    with open(os.path.join(d, 'r%d.bin' % k), 'wb') as fh:
                        fh.write(fr)
            elif tool != 'none':
                with tempfile.TemporaryDirectory() as tmp:
                    dst = os.path.join(tmp, 'ref.dcm')
                    reference(tool, ts, path, dst)
                    rds, frames = native_frames(dst, nf)
                    meta['ref_photometric'] = str(rds.PhotometricInterpretation)
                    meta['ref_bits_allocated'] = int(rds.BitsAllocated)
                    for k, fr in enumerate(frames):
                        with open(os.path.join(d, 'r%d.bin' % k), 'wb') as fh:
                            fh.write(fr)
        except Exception as e:  # reported to the Go test, which decides
            meta['error'] = '%s: %s' % (type(e).__name__, e)
        with open(os.path.join(d, 'meta.json'), 'w') as fh:
            json.dump(meta, fh)


if __name__ == '__main__':
    main()
