//go:build cgo

package codec

// JPEG-LS through CharLS (libcharls-dev 2.4): a thin binding. CharLS is the
// reference-grade implementation gdcm, dcmtk and pylibjpeg build on; it
// decoded every JPEG-LS file in the corpus exactly and about twice as fast
// as the best pure-Go decoder measured (research/go-dicom.md §7).
//
// Go memory is handed to C only for the duration of one call and CharLS
// keeps no pointer to it: each call creates and destroys its own decoder.

/*
#cgo pkg-config: charls
#include <stdlib.h>
#include <charls/charls.h>

typedef struct {
	uint32_t width, height;
	int32_t bits, components, interleave, near_lossless;
} rm_jls_info;

// rm_jls reads the header of src into info and, when dst is not NULL,
// decodes the image into dst (pixel-interleaved for line and sample
// interleave, one plane after another for none).
static int32_t rm_jls(const void *src, size_t n, rm_jls_info *info, void *dst, size_t dst_size) {
	charls_jpegls_decoder *d = charls_jpegls_decoder_create();
	if (d == NULL)
		return (int32_t)CHARLS_JPEGLS_ERRC_NOT_ENOUGH_MEMORY;
	charls_frame_info fi;
	charls_interleave_mode im = CHARLS_INTERLEAVE_MODE_NONE;
	int32_t err = charls_jpegls_decoder_set_source_buffer(d, src, n);
	if (!err)
		err = charls_jpegls_decoder_read_header(d);
	if (!err)
		err = charls_jpegls_decoder_get_frame_info(d, &fi);
	if (!err)
		err = charls_jpegls_decoder_get_interleave_mode(d, &im);
	if (!err)
		err = charls_jpegls_decoder_get_near_lossless(d, 0, &info->near_lossless);
	if (!err) {
		info->width = fi.width;
		info->height = fi.height;
		info->bits = fi.bits_per_sample;
		info->components = fi.component_count;
		info->interleave = (int32_t)im;
	}
	if (!err && dst != NULL)
		err = charls_jpegls_decoder_decode_to_buffer(d, dst, dst_size, 0);
	charls_jpegls_decoder_destroy(d);
	return err;
}

static const char *rm_jls_error(int32_t err) {
	return charls_get_error_message((charls_jpegls_errc)err);
}
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"unsafe"
)

const haveCharLS = true

// hostLittleEndian decides whether CharLS's host-order 16-bit output can be
// used as little-endian frame data as is.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func jlsError(err C.int32_t, what string) error {
	return invalidf("%s: CharLS: %s", what, C.GoString(C.rm_jls_error(err)))
}

// jlsHeader is what the JPEG-LS frame header says.
type jlsHeader struct {
	width, height, bits, components int
	interleave                      C.int32_t
}

func readJPEGLSHeader(src []byte) (jlsHeader, error) {
	// CharLS 2.4 does not stop at the end of the data: it reads zero bits
	// past it, and a Golomb code of zeros then costs it ~2^32 iterations
	// (10-15 s of CPU) before it reports the error. A truncated stream is
	// the common way to get there, so require the EOI marker at the end
	// (DICOM may pad the fragment with a zero byte) before CharLS sees it.
	tail := bytes.TrimRight(src, "\x00")
	if len(tail) < 4 || tail[len(tail)-2] != 0xFF || tail[len(tail)-1] != 0xD9 {
		return jlsHeader{}, invalidf("JPEG-LS stream does not end with an EOI marker (truncated?)")
	}
	var hdr C.rm_jls_info
	if err := C.rm_jls(unsafe.Pointer(&src[0]), C.size_t(len(src)), &hdr, nil, 0); err != 0 {
		return jlsHeader{}, jlsError(err, "reading the JPEG-LS header")
	}
	return jlsHeader{int(hdr.width), int(hdr.height), int(hdr.bits), int(hdr.components), hdr.interleave}, nil
}

func decodeJPEGLS(src []byte, info Info) (*Frame, error) {
	if info.BitsAllocated == 1 || info.BitsAllocated == 32 {
		return nil, invalidf("JPEG-LS cannot encode BitsAllocated %d", info.BitsAllocated)
	}
	hd, err := readJPEGLSHeader(src)
	if err != nil {
		return nil, err
	}
	w, h, bits, comps := hd.width, hd.height, hd.bits, hd.components
	switch {
	case w != info.Columns || h != info.Rows:
		return nil, invalidf("JPEG-LS frame is %dx%d, the dataset says %dx%d", w, h, info.Columns, info.Rows)
	case comps != info.SamplesPerPixel:
		return nil, invalidf("JPEG-LS frame has %d components, the dataset says %d samples per pixel", comps, info.SamplesPerPixel)
	case bits < 2 || bits > 16 || bits > info.BitsAllocated:
		return nil, invalidf("JPEG-LS sample precision %d does not fit BitsAllocated %d", bits, info.BitsAllocated)
	}
	f := newFrame(info, info.PhotometricInterpretation)
	bps := 1 // CharLS writes 1 byte per sample up to 8 bits, else 2 in host order
	if bits > 8 {
		bps = 2
	}
	planar := comps > 1 && hd.interleave == C.CHARLS_INTERLEAVE_MODE_NONE
	direct := bps == info.BitsAllocated/8 && !planar && (bps == 1 || hostLittleEndian)
	buf := f.Data
	if !direct {
		buf = make([]byte, w*h*comps*bps)
	}
	// The header is read again inside this call; CharLS rejects a stream
	// whose image would not fit buf, so the check above cannot be bypassed.
	var hdr C.rm_jls_info
	if err := C.rm_jls(unsafe.Pointer(&src[0]), C.size_t(len(src)), &hdr, unsafe.Pointer(&buf[0]), C.size_t(len(buf))); err != 0 {
		return nil, jlsError(err, "decoding JPEG-LS")
	}
	if direct {
		return f, nil
	}
	// Re-layout: planes to interleaved, host-order 16-bit to little endian,
	// and widen to BitsAllocated.
	n := w * h
	width := info.BitsAllocated / 8
	for i := 0; i < n; i++ {
		for c := 0; c < comps; c++ {
			src := i*comps + c
			if planar {
				src = c*n + i
			}
			var v uint16
			if bps == 1 {
				v = uint16(buf[src])
			} else {
				v = binary.NativeEndian.Uint16(buf[2*src:])
			}
			o := (i*comps + c) * width
			if width == 1 {
				f.Data[o] = byte(v)
			} else {
				binary.LittleEndian.PutUint16(f.Data[o:], v)
			}
		}
	}
	return f, nil
}
