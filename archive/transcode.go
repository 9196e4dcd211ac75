package archive

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/dicom/codec"
	"github.com/radmark/radmark/render"
)

// CanTranscode reports whether instance in can be delivered in transfer
// syntax ts ("*" = as stored). radmark decodes but does not encode
// compressed syntaxes, so the choices are "as stored" and uncompressed
// Explicit VR Little Endian.
func (s *Service) CanTranscode(in *radmark.Instance, ts string) error {
	stored := string(in.TransferSyntaxUID)
	if ts == "*" || ts == stored {
		return nil
	}
	if ts != dicom.ExplicitVRLittleEndian {
		return radmark.Errorf(radmark.EUNSUPPORTED, "instance %s is stored as %s; radmark can deliver it as stored or as Explicit VR Little Endian, not %s",
			in.SOPInstanceUID, dicom.UIDName(stored), ts)
	}
	if in.Pixel != nil && in.Pixel.Encapsulated && stored != dicom.EncapsulatedUncompressedExplicitVRLittleEndian && !codec.Supported(stored) {
		return radmark.Errorf(radmark.EUNSUPPORTED, "instance %s is stored as %s, which radmark cannot decode", in.SOPInstanceUID, dicom.UIDName(stored))
	}
	return nil
}

// Encoded returns the instance as a Part 10 file in transfer syntax ts
// ("*" = the stored bytes, unchanged) and the syntax it is in.
func (s *Service) Encoded(ctx context.Context, in *radmark.Instance, ts string) (io.ReadCloser, string, error) {
	stored := string(in.TransferSyntaxUID)
	if ts == "*" || ts == stored {
		rc, err := s.Open(ctx, in)
		return rc, stored, err
	}
	if err := s.CanTranscode(in, ts); err != nil {
		return nil, "", err
	}
	f, err := s.parseStored(ctx, in)
	if err != nil {
		return nil, "", err
	}
	ds := f.Dataset
	if pi, err := ds.PixelInfo(); err == nil {
		e := ds.Get(pi.PixelTag)
		if e.Encapsulated {
			locs, err := dicom.LocateFrames(ds, e, pi)
			if err != nil {
				return nil, "", err
			}
			var native []byte
			pm := pi.PhotometricInterpretation
			for i, loc := range locs {
				data := fragmentBytes(e, loc)
				fr, err := decodeLimited(stored, pi, data)
				if err != nil {
					return nil, "", fmt.Errorf("decode frame %d of %s: %w", i+1, in.SOPInstanceUID, err)
				}
				native = append(native, fr.Data...)
				pm = fr.PhotometricInterpretation
			}
			if len(native)%2 == 1 {
				native = append(native, 0)
			}
			vr := dicom.OW
			if pi.BitsAllocated <= 8 {
				vr = dicom.OB
			}
			ds.Put(dicom.Element{Tag: dicom.TagPixelData, VR: vr, Value: native})
			if pm != pi.PhotometricInterpretation {
				ds.SetString(dicom.TagPhotometricInterpretation, pm)
			}
			if pi.SamplesPerPixel > 1 {
				ds.SetInts(dicom.TagPlanarConfiguration, 0)
			}
			if ts, _ := dicom.LookupTransferSyntax(stored); ts.Lossy {
				ds.SetString(dicom.TagLossyImageCompression, "01")
			}
		}
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{TransferSyntax: ts}); err != nil {
		return nil, "", fmt.Errorf("re-encode %s: %w", in.SOPInstanceUID, err)
	}
	return io.NopCloser(&buf), ts, nil
}

func fragmentBytes(e *dicom.Element, loc dicom.FrameLocation) []byte {
	var out []byte
	for _, r := range loc.Ranges {
		for _, f := range e.Fragments {
			if f.Offset == r.Offset {
				out = append(out, f.Data...)
				break
			}
		}
	}
	return out
}

// parseStored reads and fully parses an instance's stored bytes.
func (s *Service) parseStored(ctx context.Context, in *radmark.Instance) (*dicom.File, error) {
	rc, err := s.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", in.SOPInstanceUID, err)
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("parse stored %s: %w", in.SOPInstanceUID, err)
	}
	return f, nil
}

// decodedFrame returns frame n (1-based) decoded, with the header it needs.
func (s *Service) decodedFrame(ctx context.Context, in *radmark.Instance, n int) (*codec.Frame, *dicom.Dataset, error) {
	ds, err := s.header(in)
	if err != nil {
		return nil, nil, err
	}
	pi, err := ds.PixelInfo()
	if err != nil {
		return nil, nil, radmark.WrapError(radmark.ENOTFOUND, err, "instance "+string(in.SOPInstanceUID)+" has no usable pixel data")
	}
	raw, err := s.RawFrame(ctx, in, n)
	if err != nil {
		return nil, nil, err
	}
	ts := string(in.TransferSyntaxUID)
	if !in.Pixel.Encapsulated {
		ts = dicom.ExplicitVRLittleEndian // RawFrame made it little endian
	}
	fr, err := decodeLimited(ts, pi, raw)
	if err != nil {
		if radmark.ErrorCode(err) == radmark.EUNSUPPORTED {
			return nil, nil, err
		}
		return nil, nil, radmark.WrapError(radmark.EINTERNAL, err, "decode frame "+strconv.Itoa(n))
	}
	return fr, ds, nil
}

// NativeFrame returns frame n uncompressed, little endian, in the layout
// of Explicit VR Little Endian pixel data (1-bit frames packed LSB first).
func (s *Service) NativeFrame(ctx context.Context, in *radmark.Instance, n int) ([]byte, error) {
	if in.Pixel != nil && !in.Pixel.Encapsulated {
		return s.RawFrame(ctx, in, n)
	}
	fr, _, err := s.decodedFrame(ctx, in, n)
	if err != nil {
		return nil, err
	}
	return fr.Data, nil
}

// RenderOptions select a rendered frame.
type RenderOptions struct {
	Frame  int // 1-based; 0 = the middle frame
	Window *render.Window
	// MaxWidth/MaxHeight bound the output size (thumbnails, viewport).
	MaxWidth, MaxHeight int
}

// Rendered renders one frame of an instance for display.
func (s *Service) Rendered(ctx context.Context, in *radmark.Instance, opts RenderOptions) (image.Image, error) {
	if in.Pixel == nil {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "instance %s has no pixel data to render", in.SOPInstanceUID)
	}
	n := opts.Frame
	if n == 0 {
		n = (in.NumberOfFrames + 1) / 2
	}
	fr, ds, err := s.decodedFrame(ctx, in, n)
	if err != nil {
		return nil, err
	}
	img, err := render.Frame(ds, n-1, fr, render.Options{Window: opts.Window, MaxWidth: opts.MaxWidth, MaxHeight: opts.MaxHeight})
	if err != nil {
		return nil, radmark.WrapError(radmark.EINTERNAL, err, "render")
	}
	return img, nil
}

// BulkData returns the value of the element a BulkDataURI path names
// ("7FE00010", or "00400275/0/00081155" into sequence items), little
// endian.
func (s *Service) BulkData(ctx context.Context, in *radmark.Instance, path string) ([]byte, error) {
	f, err := s.parseStored(ctx, in)
	if err != nil {
		return nil, err
	}
	ds := f.Dataset
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i < len(parts); i += 2 {
		t, err := dicom.ParseTag(parts[i])
		if err != nil {
			return nil, radmark.Errorf(radmark.EINVALID, "bulk data path %q: %v", path, err)
		}
		e := ds.Get(t)
		if e == nil {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "no element %s in instance %s", t, in.SOPInstanceUID)
		}
		if i+1 == len(parts) {
			if e.Encapsulated {
				var out []byte
				for _, fr := range e.Fragments[1:] {
					out = append(out, fr.Data...)
				}
				return out, nil
			}
			return e.Value, nil
		}
		idx, err := strconv.Atoi(parts[i+1])
		if err != nil || idx < 0 || idx >= len(e.Items) {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "bulk data path %q: no item %s in %s", path, parts[i+1], t)
		}
		ds = e.Items[idx]
	}
	return nil, radmark.Errorf(radmark.EINVALID, "bulk data path %q is incomplete", path)
}

// decodeSlots bounds concurrent frame decoding to the CPUs: a decode is
// CPU-bound, and a cgo codec (CharLS on a hostile stream) cannot be
// interrupted, so an unbounded number of them could starve the server.
var decodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func decodeLimited(ts string, pi dicom.PixelInfo, data []byte) (*codec.Frame, error) {
	decodeSlots <- struct{}{}
	defer func() { <-decodeSlots }()
	return dicom.DecodeFrame(ts, pi, data, 0)
}
