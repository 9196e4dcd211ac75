package archive

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Select returns the instances a WADO-RS request addresses: a study, a
// series or one instance (empty UIDs widen the selection), in series and
// instance number order; ENOTFOUND if there is none.
func (s *Service) Select(ctx context.Context, study, series, sop radmark.UID) ([]*radmark.Instance, error) {
	if sop != "" {
		in, err := s.Store.Instance(ctx, sop)
		if err != nil {
			return nil, err
		}
		if (study != "" && in.StudyUID != study) || (series != "" && in.SeriesUID != series) {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "instance %s is not in the requested study or series", sop)
		}
		return []*radmark.Instance{in}, nil
	}
	q := radmark.Query{Level: radmark.InstanceLevel, StudyUID: study, SeriesUID: series}
	var out []*radmark.Instance
	if series == "" {
		// Keep a study's instances grouped by series, in series order.
		seriesList, err := s.Store.FindSeries(ctx, radmark.Query{Level: radmark.SeriesLevel, StudyUID: study})
		if err != nil {
			return nil, err
		}
		for _, se := range seriesList {
			q.SeriesUID = se.UID
			ins, err := s.Store.FindInstances(ctx, q)
			if err != nil {
				return nil, err
			}
			out = append(out, ins...)
		}
	} else {
		var err error
		if out, err = s.Store.FindInstances(ctx, q); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		what := "study " + string(study)
		if series != "" {
			what = "series " + string(series)
		}
		return nil, radmark.Errorf(radmark.ENOTFOUND, "no instances stored for %s", what)
	}
	return out, nil
}

// Open returns the stored bytes of an instance.
func (s *Service) Open(ctx context.Context, in *radmark.Instance) (io.ReadCloser, error) {
	rc, _, err := s.Blobs.Get(ctx, in.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", in.SOPInstanceUID, err)
	}
	return rc, nil
}

// Metadata returns an instance's DICOM JSON with bulk data URIs under the
// instance's URL.
func (s *Service) Metadata(in *radmark.Instance, urls URLs) ([]byte, error) {
	return DecodeMetadata(in.Metadata, urls.Instance(in.StudyUID, in.SeriesUID, in.SOPInstanceUID)+"/bulkdata/")
}

// ParseFrameList parses a WADO-RS frame list "1,3,5" (1-based).
func ParseFrameList(s string, numberOfFrames int) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, radmark.Errorf(radmark.EINVALID, "frame number %q is not a positive integer", p)
		}
		if n > numberOfFrames {
			return nil, radmark.Errorf(radmark.ENOTFOUND, "frame %d does not exist: the instance has %d frame(s)", n, numberOfFrames)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "empty frame list")
	}
	return out, nil
}

// RawFrame returns frame n (1-based) as stored: the compressed codestream
// for encapsulated syntaxes, little-endian native bytes otherwise (frames of
// big-endian and deflated objects are converted, since DICOMweb carries
// native frames little endian).
func (s *Service) RawFrame(ctx context.Context, in *radmark.Instance, n int) ([]byte, error) {
	px := in.Pixel
	if px == nil {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "instance %s has no pixel data", in.SOPInstanceUID)
	}
	if n < 1 || n > in.NumberOfFrames {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "frame %d does not exist: the instance has %d frame(s)", n, in.NumberOfFrames)
	}
	if px.Deflated || strings.EqualFold(string(in.TransferSyntaxUID), dicom.ExplicitVRBigEndian) {
		return s.frameFromParsed(ctx, in, n)
	}
	if px.Encapsulated {
		if n > len(px.Frames) {
			return nil, radmark.Errorf(radmark.EINTERNAL, "frame index of %s is inconsistent", in.SOPInstanceUID)
		}
		var out []byte
		for _, r := range px.Frames[n-1] {
			b, err := s.readRange(ctx, in.BlobKey, r.Offset, r.Length)
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
		return out, nil
	}
	pi, err := s.pixelInfo(in)
	if err != nil {
		return nil, err
	}
	frameBits := pi.FrameBits()
	if pi.BitsAllocated == 1 {
		// 1-bit frames need not start on a byte: unpack and repack.
		all, err := s.readRange(ctx, in.BlobKey, px.Offset, (frameBits*int64(pi.NumberOfFrames)+7)/8)
		if err != nil {
			return nil, err
		}
		return extractBits(all, int64(n-1)*frameBits, frameBits), nil
	}
	size := pi.NativeLength() / int64(pi.NumberOfFrames)
	return s.readRange(ctx, in.BlobKey, px.Offset+int64(n-1)*size, size)
}

// extractBits copies count bits starting at bit start into a new, byte
// aligned, LSB-first packed buffer.
func extractBits(b []byte, start, count int64) []byte {
	out := make([]byte, (count+7)/8)
	for i := int64(0); i < count; i++ {
		bit := start + i
		if b[bit/8]&(1<<(bit%8)) != 0 {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out
}

func (s *Service) readRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	rc, err := s.Blobs.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return buf, nil
}

// pixelInfo reads the Image Pixel module from the stored metadata.
func (s *Service) pixelInfo(in *radmark.Instance) (dicom.PixelInfo, error) {
	ds, err := s.header(in)
	if err != nil {
		return dicom.PixelInfo{}, err
	}
	return ds.PixelInfo()
}

// header parses the stored bytes up to the pixel data. Used where the
// indexed metadata is not enough (pixel module details, rendering).
func (s *Service) header(in *radmark.Instance) (*dicom.Dataset, error) {
	end := in.Size
	if in.Pixel != nil && !in.Pixel.Deflated {
		// Everything up to the pixel data value: the parser stops at the
		// pixel data element's header.
		end = in.Pixel.Offset
	}
	b, err := s.readRange(context.Background(), in.BlobKey, 0, end)
	if err != nil {
		return nil, err
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{StopAtPixelData: true, BulkDataThreshold: 64 << 10})
	if err != nil {
		return nil, fmt.Errorf("parse stored header of %s: %w", in.SOPInstanceUID, err)
	}
	return f.Dataset, nil
}

// frameFromParsed reads the whole object and takes frame n from the
// parsed, little-endian pixel data: for deflated and big-endian objects.
func (s *Service) frameFromParsed(ctx context.Context, in *radmark.Instance, n int) ([]byte, error) {
	rc, err := s.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := dicom.Parse(rc, in.Size, dicom.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("parse stored instance: %w", err)
	}
	pi, err := f.Dataset.PixelInfo()
	if err != nil {
		return nil, err
	}
	e := f.Dataset.Get(pi.PixelTag)
	if e.Encapsulated {
		locs, err := dicom.LocateFrames(f.Dataset, e, pi)
		if err != nil {
			return nil, err
		}
		var out []byte
		for _, r := range locs[n-1].Ranges {
			for _, frag := range e.Fragments {
				if frag.Offset == r.Offset {
					out = append(out, frag.Data...)
				}
			}
		}
		return out, nil
	}
	frameBits := pi.FrameBits()
	if pi.BitsAllocated == 1 {
		return extractBits(e.Value, int64(n-1)*frameBits, frameBits), nil
	}
	size := pi.NativeLength() / int64(pi.NumberOfFrames)
	start := int64(n-1) * size
	if start+size > int64(len(e.Value)) {
		return nil, radmark.Errorf(radmark.EINTERNAL, "stored pixel data of %s is shorter than its frames", in.SOPInstanceUID)
	}
	return e.Value[start : start+size], nil
}
