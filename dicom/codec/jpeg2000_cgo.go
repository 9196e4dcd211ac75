//go:build cgo

package codec

// JPEG 2000 (and HTJ2K) through OpenJPEG 2.5 (libopenjp2-7-dev): a thin
// binding with an in-memory stream. OpenJPEG is the decoder gdcm and Pillow
// use; it was exact on every lossless file here, 3x faster than the pure-Go
// alternative, and — unlike it — fails cleanly on a corrupt header that
// claims 3.8e12 pixels (research/go-dicom.md §6–7). Header dimensions are
// still checked against Info before OpenJPEG allocates any image buffer.
//
// Each call creates and destroys its own codec and stream; Go memory is
// only borrowed for the duration of a call. The decoded image is OpenJPEG
// (C) memory, read from Go and then freed.

/*
#cgo pkg-config: libopenjp2
#include <stdlib.h>
#include <string.h>
#include <openjpeg.h>

typedef struct {
	const unsigned char *data;
	OPJ_SIZE_T len, pos;
} rm_mem;

static OPJ_SIZE_T rm_read(void *buf, OPJ_SIZE_T n, void *ud) {
	rm_mem *m = ud;
	if (m->pos >= m->len)
		return (OPJ_SIZE_T)-1;
	OPJ_SIZE_T k = m->len - m->pos;
	if (k > n)
		k = n;
	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T rm_skip(OPJ_OFF_T n, void *ud) {
	rm_mem *m = ud;
	if (n < 0) {
		if ((OPJ_SIZE_T)(-n) > m->pos)
			n = -(OPJ_OFF_T)m->pos;
	} else if ((OPJ_SIZE_T)n > m->len - m->pos) {
		n = (OPJ_OFF_T)(m->len - m->pos);
	}
	m->pos += n;
	return n;
}

static OPJ_BOOL rm_seek(OPJ_OFF_T n, void *ud) {
	rm_mem *m = ud;
	if (n < 0 || (OPJ_SIZE_T)n > m->len)
		return OPJ_FALSE;
	m->pos = (OPJ_SIZE_T)n;
	return OPJ_TRUE;
}

#define RM_MAXC 4

typedef struct {
	int w, h, ncomps, mct;
	int prec[RM_MAXC], sgnd[RM_MAXC], dx[RM_MAXC], dy[RM_MAXC], cw[RM_MAXC], ch[RM_MAXC];
	char err[256];
} rm_j2k_info;

static void rm_error(const char *msg, void *ud) {
	char *buf = ud;
	if (buf[0] == 0) { // keep the first message: later ones are consequences
		strncpy(buf, msg, 255);
		buf[255] = 0;
	}
}

static int rm_is_jp2(const unsigned char *p, size_t n) {
	static const unsigned char sig[12] = {0, 0, 0, 12, 'j', 'P', ' ', ' ', 13, 10, 0x87, 10};
	return n >= 12 && memcmp(p, sig, 12) == 0;
}

// rm_j2k reads the header of src into info. When expect_w > 0 it also
// decodes, after checking the header against the expected size and
// component count, and returns the image in *out (free it with
// opj_image_destroy). It returns 1 on success.
static int rm_j2k(const unsigned char *src, size_t n, int expect_w, int expect_h, int expect_c,
                  rm_j2k_info *info, opj_image_t **out) {
	int ok = 0;
	opj_image_t *img = NULL;
	rm_mem m = {src, n, 0};
	opj_codec_t *codec = opj_create_decompress(rm_is_jp2(src, n) ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	opj_stream_t *s = opj_stream_create(n < 65536 ? n : 65536, OPJ_TRUE);
	*out = NULL;
	if (codec == NULL || s == NULL) {
		strcpy(info->err, "out of memory");
		goto done;
	}
	opj_set_error_handler(codec, rm_error, info->err);
	opj_dparameters_t p;
	opj_set_default_decoder_parameters(&p);
	if (!opj_setup_decoder(codec, &p))
		goto done;
	opj_stream_set_user_data(s, &m, NULL);
	opj_stream_set_user_data_length(s, n);
	opj_stream_set_read_function(s, rm_read);
	opj_stream_set_skip_function(s, rm_skip);
	opj_stream_set_seek_function(s, rm_seek);
	if (!opj_read_header(s, codec, &img))
		goto done;
	info->w = (int)(img->x1 - img->x0);
	info->h = (int)(img->y1 - img->y0);
	info->ncomps = (int)img->numcomps;
	for (int i = 0; i < RM_MAXC && i < (int)img->numcomps; i++) {
		opj_image_comp_t *c = &img->comps[i];
		info->prec[i] = (int)c->prec;
		info->sgnd[i] = (int)c->sgnd;
		info->dx[i] = (int)c->dx;
		info->dy[i] = (int)c->dy;
	}
	opj_codestream_info_v2_t *ci = opj_get_cstr_info(codec);
	if (ci != NULL) {
		info->mct = (int)ci->m_default_tile_info.mct;
		opj_destroy_cstr_info(&ci);
	}
	if (expect_w <= 0) {
		ok = 1;
		goto done;
	}
	if (info->w != expect_w || info->h != expect_h || info->ncomps != expect_c) {
		strcpy(info->err, "header does not match the expected frame");
		goto done;
	}
	if (!opj_decode(codec, s, img) || !opj_end_decompress(codec, s))
		goto done;
	for (int i = 0; i < (int)img->numcomps; i++) {
		opj_image_comp_t *c = &img->comps[i];
		info->cw[i] = (int)c->w;
		info->ch[i] = (int)c->h;
		info->prec[i] = (int)c->prec;
		info->sgnd[i] = (int)c->sgnd;
		if (c->data == NULL) {
			strcpy(info->err, "component has no data");
			goto done;
		}
	}
	*out = img;
	img = NULL;
	ok = 1;
done:
	if (img != NULL)
		opj_image_destroy(img);
	if (s != NULL)
		opj_stream_destroy(s);
	if (codec != NULL)
		opj_destroy_codec(codec);
	return ok;
}

static OPJ_INT32 *rm_comp_data(opj_image_t *img, int i) { return img->comps[i].data; }
*/
import "C"

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

const haveOpenJPEG = true

// haveHTJ2K: OpenJPEG decodes HTJ2K (Part 15) code-blocks since 2.5.0, the
// version Debian 12 ships; older versions fail cleanly on the codestream.
var haveHTJ2K = C.OPJ_VERSION_MAJOR > 2 || (C.OPJ_VERSION_MAJOR == 2 && C.OPJ_VERSION_MINOR >= 5)

func j2kError(info *C.rm_j2k_info, what string) error {
	msg := strings.TrimSpace(C.GoString(&info.err[0]))
	if msg == "" {
		msg = "unknown error"
	}
	return invalidf("%s: OpenJPEG: %s", what, msg)
}

func decodeHTJ2K(src []byte, info Info) (*Frame, error) {
	if !haveHTJ2K {
		return nil, unsupportedf("HTJ2K needs OpenJPEG 2.5 or later; this build links %s", C.GoString(C.opj_version()))
	}
	return decodeJPEG2000(src, info)
}

// j2kHeader is what the JPEG 2000 main header says.
type j2kHeader struct {
	width, height, components int
	precision, dx, dy         [4]int
}

func readJPEG2000Header(src []byte) (j2kHeader, error) {
	var hdr C.rm_j2k_info
	var img *C.opj_image_t
	if C.rm_j2k((*C.uchar)(&src[0]), C.size_t(len(src)), 0, 0, 0, &hdr, &img) == 0 {
		return j2kHeader{}, j2kError(&hdr, "reading the JPEG 2000 header")
	}
	h := j2kHeader{width: int(hdr.w), height: int(hdr.h), components: int(hdr.ncomps)}
	for i := 0; i < min(h.components, 4); i++ {
		h.precision[i], h.dx[i], h.dy[i] = int(hdr.prec[i]), int(hdr.dx[i]), int(hdr.dy[i])
	}
	return h, nil
}

func decodeJPEG2000(src []byte, info Info) (*Frame, error) {
	hd, err := readJPEG2000Header(src)
	if err != nil {
		return nil, err
	}
	w, h, nc := hd.width, hd.height, hd.components
	switch {
	case w != info.Columns || h != info.Rows:
		return nil, invalidf("JPEG 2000 image is %dx%d, the dataset says %dx%d", w, h, info.Columns, info.Rows)
	case nc != info.SamplesPerPixel:
		return nil, invalidf("JPEG 2000 image has %d components, the dataset says %d samples per pixel", nc, info.SamplesPerPixel)
	}
	for i := 0; i < nc; i++ {
		prec := hd.precision[i]
		switch {
		case hd.dx[i] != 1 || hd.dy[i] != 1:
			return nil, unsupportedf("JPEG 2000 component %d is subsampled (%dx%d)", i, hd.dx[i], hd.dy[i])
		case prec < 1 || (info.BitsAllocated > 1 && prec > info.BitsAllocated):
			return nil, invalidf("JPEG 2000 component %d precision %d does not fit BitsAllocated %d", i, prec, info.BitsAllocated)
		}
	}

	// Decode, reading the header again: OpenJPEG's state cannot be kept
	// across calls without keeping a pointer to Go memory in C. rm_j2k
	// refuses to decode unless the header still matches what was checked.
	var hdr C.rm_j2k_info
	var img *C.opj_image_t
	if C.rm_j2k((*C.uchar)(&src[0]), C.size_t(len(src)), C.int(w), C.int(h), C.int(nc), &hdr, &img) == 0 {
		return nil, j2kError(&hdr, "decoding JPEG 2000")
	}
	defer C.opj_image_destroy(img)
	comps := make([][]int32, nc)
	for i := range comps {
		if int(hdr.cw[i]) != w || int(hdr.ch[i]) != h {
			return nil, invalidf("JPEG 2000 component %d decoded to %dx%d, not %dx%d", i, hdr.cw[i], hdr.ch[i], w, h)
		}
		comps[i] = unsafe.Slice((*int32)(unsafe.Pointer(C.rm_comp_data(img, C.int(i)))), w*h)
	}

	// The inverse multiple-component transform (RCT/ICT) has been applied
	// by OpenJPEG when the codestream says so, so YBR_RCT/YBR_ICT data is
	// RGB now; DICOM requires MCT for those terms, and gdcm and pydicom
	// relabel them RGB too.
	photometric := info.PhotometricInterpretation
	if nc == 3 && (hdr.mct != 0 || photometric == "YBR_RCT" || photometric == "YBR_ICT") {
		photometric = "RGB"
	}
	f := newFrame(info, photometric)
	n := w * h
	switch info.BitsAllocated {
	case 1:
		// Binary segmentation: pack the samples LSB first, as native
		// BitsAllocated 1 data is (PS3.5 8.1.1).
		for i := 0; i < n*nc; i++ {
			if comps[i%nc][i/nc] != 0 {
				f.Data[i>>3] |= 1 << (i & 7)
			}
		}
	case 8:
		for i := 0; i < n; i++ {
			for c := 0; c < nc; c++ {
				f.Data[i*nc+c] = byte(comps[c][i])
			}
		}
	case 16:
		for i := 0; i < n; i++ {
			for c := 0; c < nc; c++ {
				binary.LittleEndian.PutUint16(f.Data[2*(i*nc+c):], uint16(comps[c][i]))
			}
		}
	case 32:
		for i := 0; i < n; i++ {
			for c := 0; c < nc; c++ {
				binary.LittleEndian.PutUint32(f.Data[4*(i*nc+c):], uint32(comps[c][i]))
			}
		}
	}
	return f, nil
}
