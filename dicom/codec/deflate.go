package codec

import (
	"bytes"
	"compress/flate"
	"io"
)

// DeflatedImageFrame is Deflated Image Frame Compression (PS3.5 A.4.11):
// each frame is its native bytes compressed with deflate (RFC 1951).
const DeflatedImageFrame = "1.2.840.10008.1.2.8.1"

func init() {
	syntaxes[DeflatedImageFrame] = &syntax{name: "Deflated Image Frame", decode: decodeDeflatedFrame, pureGo: true}
}

// decodeDeflatedFrame inflates a frame, reading at most one byte more than
// the frame needs so a deflate bomb costs nothing.
func decodeDeflatedFrame(frame []byte, info Info) (*Frame, error) {
	want := info.frameBytes()
	out := make([]byte, want+1)
	n, err := io.ReadFull(flate.NewReader(bytes.NewReader(frame)), out)
	switch {
	case err == nil:
		return nil, invalidf("inflated frame is longer than the %d bytes the image needs", want)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, invalidf("deflate stream: %v", err)
	case int64(n) < int64(want):
		return nil, invalidf("inflated frame has %d bytes, the image needs %d", n, want)
	}
	return &Frame{Data: out[:want], Rows: info.Rows, Columns: info.Columns, SamplesPerPixel: info.SamplesPerPixel,
		BitsAllocated: info.BitsAllocated, PhotometricInterpretation: info.PhotometricInterpretation}, nil
}
