#!/usr/bin/python3
"""Regenerate testdata/fixtures: small compressed frames with the sha256 of
what a reference decoder makes of them.

usage: /usr/bin/python3 testdata/mkfixtures.py SHARED_DATA_DIR

Run from dicom/codec. Needs pydicom, dcmtk, gdcm and openjph-tools. The Go
test TestFixtures then checks, without any of those tools, that Decode
produces exactly the reference bytes. Sources are files of ../shared/data
(pydicom's test files, MIT; the TCIA lung CT, CC BY) and streams made from
them here with dcmtk, gdcm and OpenJPH encoders; see fixtures/README.md.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pydicom
from pydicom.encaps import generate_pixel_data_frame

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refdump  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError('%s: %s' % (' '.join(cmd), p.stdout + p.stderr))


def main():
    shared = sys.argv[1]
    S = lambda p: os.path.join(shared, p)  # noqa: E731
    tmp = tempfile.mkdtemp()
    T = lambda p: os.path.join(tmp, p)  # noqa: E731
    mr = S('syntaxes/pydicom/MR_small.dcm')
    rgb = S('syntaxes/pydicom/SC_rgb.dcm')

    # Streams made here, to cover what the corpus lacks in small files.
    for k in range(1, 8):
        run('dcmcjpeg', '+el', '+sv', str(k), mr, T('jpll_mr_sv%d.dcm' % k))
    run('dcmcjpeg', '+el', '+sv', '1', '+pt', '3', mr, T('jpll_mr_sv1_pt3.dcm'))
    run('dcmcjpeg', '+el', '+sv', '7', rgb, T('jpll_rgb_sv7.dcm'))
    run('dcmcjpeg', '+ep', mr, T('jpprog_mr12.dcm'))
    run('dcmcjpeg', '+ep', rgb, T('jpprog_rgb422.dcm'))
    run('dcmcjpeg', '+ep', '+s4', rgb, T('jpprog_rgb444.dcm'))
    run('dcmcjpeg', '+es', rgb, T('jpspec_rgb422.dcm'))
    run('dcmcjpeg', '+ee', mr, T('jpext_mr12.dcm'))
    for ilv in ('in', 'il', 'is'):
        run('dcmcjpls', '+' + ilv, rgb, T('jls_rgb_%s.dcm' % ilv))
    run('dcmcjpls', '+en', '+md', '3', rgb, T('jlsnear_rgb.dcm'))
    run('gdcmconv', '--jpegls', '--lossy', '-e', '2', mr, T('jlsnear_mr_signed.dcm'))
    run('gdcmconv', '--j2k', rgb, T('j2k_rgb_mct.dcm'))
    run('gdcmconv', '--j2k', '--irreversible', '-q', '40', mr, T('j2k_mr_irrev.dcm'))

    # HTJ2K codestreams (no DICOM needed: the reference reads .j2c).
    px = pydicom.dcmread(rgb).pixel_array
    with open(T('rgb.ppm'), 'wb') as fh:
        fh.write(b'P6\n100 100\n255\n' + px.astype(np.uint8).tobytes())
    run('ojph_compress', '-i', T('rgb.ppm'), '-o', T('htj2k_rgb_lossless.j2c'), '-reversible', 'true')
    run('ojph_compress', '-i', T('rgb.ppm'), '-o', T('htj2k_rgb_lossy.j2c'), '-qstep', '0.02')
    ct = pydicom.dcmread(S('mr/tcia_brain-tumor-progression_PGBM-001_T1post/1-01.dcm'))
    a = ct.pixel_array.astype('>u2')
    with open(T('mr16.pgm'), 'wb') as fh:
        fh.write(b'P5\n%d %d\n65535\n' % (a.shape[1], a.shape[0]) + a.tobytes())
    run('ojph_compress', '-i', T('mr16.pgm'), '-o', T('htj2k_mr16_lossless.j2c'), '-reversible', 'true')

    # name: (source, frame, reference tool or None for the default)
    fixtures = {
        'rle_mr16_signed': (S('syntaxes/pydicom/MR_small_RLE.dcm'), 0, None),
        'rle_rgb8': (S('syntaxes/pydicom/SC_rgb_rle.dcm'), 0, None),
        'rle_rgb16': (S('syntaxes/pydicom/SC_rgb_rle_16bit.dcm'), 0, None),
        'rle_rgb32': (S('syntaxes/pydicom/SC_rgb_rle_32bit.dcm'), 0, None),
        'rle_dose32': (S('annotations/pydicom_rt-sr/rtdose_rle.dcm'), 4, None),
        'rle_seg1bit': (S('annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_rle.dcm'), 1,
                        'native:' + S('annotations/dcmqi_liver-seg_ct-3slice/liver.seg.dcm')),
        'jpeg_ybr420': (S('syntaxes/pydicom/SC_rgb_dcmtk_+eb+cy+np.dcm'), 0, None),
        'jpeg_ybr422': (S('syntaxes/pydicom/SC_rgb_dcmtk_+eb+cy+s2.dcm'), 0, None),
        'jpeg_ybr444': (S('syntaxes/pydicom/SC_rgb_dcmtk_+eb+cy+s4.dcm'), 0, None),
        'jpeg_ybr420_full': (S('syntaxes/pydicom/SC_rgb_dcmtk_+eb+cy+n1.dcm'), 0, None),
        'jpeg_rgb_adobe': (S('syntaxes/pydicom/SC_rgb_dcmtk_+eb+cr.dcm'), 0, None),
        'jpeg_rgb_no_transform': (S('syntaxes/pydicom/SC_jpeg_no_color_transform.dcm'), 0, None),
        'jpeg_rgb_gdcm420': (S('syntaxes/pydicom/SC_rgb_jpeg_lossy_gdcm.dcm'), 0, None),
        'jpeg_odd3x3': (S('malformed/pydicom/SC_rgb_small_odd_jpeg.dcm'), 0, None),
        'jpeg_ct8': (S('syntaxes/generated_from_tcia-lung-ct-slice15/05_jpeg-baseline-process1_1.2.840.10008.1.2.4.50.dcm'), 0, None),
        'jpeg_ext12_se0': (S('syntaxes/pydicom/JPEG-lossy.dcm'), 0, None),
        'jpeg_ext12': (T('jpext_mr12.dcm'), 0, None),
        'jpeg_prog12': (T('jpprog_mr12.dcm'), 0, None),
        'jpeg_prog_rgb422': (T('jpprog_rgb422.dcm'), 0, None),
        'jpeg_prog_rgb444': (T('jpprog_rgb444.dcm'), 0, None),
        'jpeg_spectral_rgb422': (T('jpspec_rgb422.dcm'), 0, None),
        'jpll_rgb8_gdcm': (S('syntaxes/pydicom/SC_rgb_jpeg_gdcm.dcm'), 0, None),
        'jpll_rgb8_sv7': (T('jpll_rgb_sv7.dcm'), 0, None),
        'jpll_mr16_sv1_pt3': (T('jpll_mr_sv1_pt3.dcm'), 0, None),
        'jls_mr16_signed': (S('syntaxes/pydicom/MR_small_jpeg_ls_lossless.dcm'), 0, None),
        'jls_8bit_7stored': (S('syntaxes/pydicom/JLSL_08_07_0_1F.dcm'), 0, None),
        'jls_rgb_ilv_none': (T('jls_rgb_in.dcm'), 0, None),
        'jls_rgb_ilv_line': (T('jls_rgb_il.dcm'), 0, None),
        'jls_rgb_ilv_sample': (T('jls_rgb_is.dcm'), 0, None),
        'jls_rgb_near': (T('jlsnear_rgb.dcm'), 0, None),
        'jls_mr16_near_signed': (T('jlsnear_mr_signed.dcm'), 0, None),
        'j2k_mr16_signed': (S('syntaxes/pydicom/MR_small_jp2klossless.dcm'), 0, None),
        'j2k_rgb_lossy': (S('syntaxes/pydicom/SC_rgb_gdcm_KY.dcm'), 0, None),
        'j2k_nm16_lossy_signed': (S('syntaxes/pydicom/JPEG2000.dcm'), 0, None),
        'j2k_rgb_mct': (T('j2k_rgb_mct.dcm'), 0, None),
        'j2k_mr16_irreversible': (T('j2k_mr_irrev.dcm'), 0, None),
        'j2k_jp2_ybr_rct': (S('malformed/pydicom/GDCMJ2K_TextGBR.dcm'), 0, None),
        'j2k_seg1bit': (S('annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_j2k.dcm'), 1,
                        'native:' + S('annotations/dcmqi_liver-seg_ct-3slice/liver.seg.dcm')),
    }
    for k in range(1, 8):
        fixtures['jpll_mr16_sv%d' % k] = (T('jpll_mr_sv%d.dcm' % k), 0, None)

    os.makedirs(OUT, exist_ok=True)
    entries = []
    for name, (path, frame, tool) in sorted(fixtures.items()):
        ds = pydicom.dcmread(path, force=True)
        ts = str(ds.file_meta.TransferSyntaxUID)
        nf = int(ds.get('NumberOfFrames', 1) or 1)
        frames = list(generate_pixel_data_frame(ds.PixelData, nf))
        tool = tool or refdump.default_tool(ts)
        if tool.startswith('native:'):
            rds, refs = refdump.native_frames(tool[len('native:'):], nf)
            tool = 'uncompressed ' + os.path.relpath(tool[len('native:'):], shared)
        else:
            dst = T(name + '.ref.dcm')
            refdump.reference(tool, ts, path, dst)
            rds, refs = refdump.native_frames(dst, nf)
        src = os.path.relpath(path, shared) if path.startswith(shared) else \
            'made here from ' + ('MR_small' if '_mr' in os.path.basename(path) else 'SC_rgb')
        entries.append(entry(name, ts, ds, frames[frame], refs[frame], str(rds.PhotometricInterpretation),
                             src + ('' if frame == 0 else ' frame %d' % frame), tool))

    # HTJ2K fixtures, referenced by OpenJPH.
    # OpenJPEG and OpenJPH implement the irreversible path with different
    # arithmetic, so the lossy stream keeps its reference pixels and a
    # tolerance (measured: 1) instead of a hash.
    for name, pgm, ts, info, tol in [
            ('htj2k_rgb_lossless', 'htj2k_rgb_lossless.j2c', '1.2.840.10008.1.2.4.201', (100, 100, 3, 8, 8, 0, 'RGB'), 0),
            ('htj2k_rgb_lossy', 'htj2k_rgb_lossy.j2c', '1.2.840.10008.1.2.4.203', (100, 100, 3, 8, 8, 0, 'RGB'), 1),
            ('htj2k_mr16_lossless', 'htj2k_mr16_lossless.j2c', '1.2.840.10008.1.2.4.201',
             (ct.Rows, ct.Columns, 1, 16, 16, 0, 'MONOCHROME2'), 0)]:
        with open(T(pgm), 'rb') as fh:
            code = fh.read()
        ref = refdump.openjph_frames([code], tmp)[0]
        rows, cols, spp, ba, bs, pr, pi = info
        e = dict(name=name, ts=ts, rows=rows, columns=cols, samples=spp,
                 bits_allocated=ba, bits_stored=bs, pixel_representation=pr, photometric=pi,
                 want_photometric=pi, size=len(ref), sha256=hashlib.sha256(ref).hexdigest(),
                 source='made here with ojph_compress', reference='ojph_expand (OpenJPH)')
        if tol:
            e['tolerance'] = tol
            write(name + '.ref', ref)
        write(name, code)
        entries.append(e)
    with open(os.path.join(OUT, 'fixtures.json'), 'w') as fh:
        json.dump(entries, fh, indent=1)
        fh.write('\n')


def entry(name, ts, ds, frame, ref, ref_pi, source, tool):
    write(name, frame)
    return dict(name=name, ts=ts, rows=int(ds.Rows), columns=int(ds.Columns), samples=int(ds.SamplesPerPixel),
                bits_allocated=int(ds.BitsAllocated), bits_stored=int(ds.BitsStored),
                pixel_representation=int(ds.PixelRepresentation),
                photometric=str(ds.PhotometricInterpretation), want_photometric=ref_pi,
                size=len(ref), sha256=hashlib.sha256(ref).hexdigest(), source=source, reference=tool)


def write(name, data):
    with open(os.path.join(OUT, name + '.bin'), 'wb') as fh:
        fh.write(data)


if __name__ == '__main__':
    main()
