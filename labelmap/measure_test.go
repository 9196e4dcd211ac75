package labelmap

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

var measure = flag.Bool("measure", false, "measure candidate chunk encodings on test masks (the table in FORMAT.md)")

// candidate is one way to compress a slice, measured against the others.
// encode returns the whole stored chunk; candidates other than the
// format's own are charged its 16-byte header on top of their payload.
type candidate struct {
	name   string
	encode func(slice []byte, columns, rows int) []byte
	decode func(dst, chunk []byte, columns, rows int) error
}

func candidates() []candidate {
	zenc := func(l zstd.EncoderLevel) *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
		return e
	}
	zdec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	header := make([]byte, headerLen)
	var out []candidate
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		e := zenc(l)
		out = append(out, candidate{"zstd " + l.String(),
			func(s []byte, _, _ int) []byte { return e.EncodeAll(s, header) },
			func(dst, c []byte, _, _ int) error {
				_, err := zdec.DecodeAll(c[headerLen:], dst[:0])
				return err
			}})
	}
	out = append(out, candidate{"rle",
		func(s []byte, _, _ int) []byte { return appendRLE(header, s) },
		func(dst, c []byte, _, _ int) error { return expandRLE(dst, c[headerLen:]) }})
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		e := zenc(l)
		out = append(out, candidate{"rle+zstd " + l.String(),
			func(s []byte, _, _ int) []byte { return e.EncodeAll(appendRLE(nil, s), header) },
			func(dst, c []byte, _, _ int) error {
				r, err := zdec.DecodeAll(c[headerLen:], nil)
				if err != nil {
					return err
				}
				return expandRLE(dst, r)
			}})
	}
	out = append(out,
		candidate{"s2",
			func(s []byte, _, _ int) []byte { return append(header, s2.Encode(nil, s)...) },
			func(dst, c []byte, _, _ int) error { _, err := s2.Decode(dst, c[headerLen:]); return err }},
		candidate{"rle+s2",
			func(s []byte, _, _ int) []byte { return append(header, s2.Encode(nil, appendRLE(nil, s))...) },
			func(dst, c []byte, _, _ int) error {
				r, err := s2.Decode(nil, c[headerLen:])
				if err != nil {
					return err
				}
				return expandRLE(dst, r)
			}},
		// The format as written: rle+zstd default, or zstd of the raw
		// bytes when the run-length code is long and that is smaller.
		candidate{"chunk v1 (EncodeSlice)",
			func(s []byte, columns, rows int) []byte { c, _ := EncodeSlice(s, columns, rows); return c },
			DecodeSliceInto},
	)
	return out
}

// TestMeasureEncodings prints, for every test mask and candidate, the
// stored size (the chunks of the non-empty slices, 16-byte header
// included) as a share of the raw volume, the largest chunk, and
// single-goroutine encode and decode throughput (MB of raw slice per
// second, non-empty slices only).
//
//	go test ./labelmap -run TestMeasureEncodings -measure -v
func TestMeasureEncodings(t *testing.T) {
	if !*measure {
		t.Skip("pass -measure to measure the candidate encodings")
	}
	masks := []struct {
		name string
		make func() *Volume
	}{
		{"phantom organs+lesions", func() *Volume { return organsAndLesions(t) }},
		{"phantom lesions only", func() *Volume { return lesionsOnly(t) }},
		{"phantom all tissues", func() *Volume { return allTissues(t) }},
		{"30 spheres", func() *Volume { return spheres(t, bigGrid, 30, 1) }},
		{"12 organ-like blobs", func() *Volume { return blobs(t, bigGrid, 12, 1) }},
		{"organs, noisy edges", func() *Volume { return noisyEdges(t, 1) }},
		{"scattered 1% (3 labels)", func() *Volume { return noise(t, Grid{512, 512, 60}, 0.01, 3, 1) }},
		{"noise 50% (8 labels)", func() *Volume { return noise(t, Grid{512, 512, 60}, 0.5, 8, 1) }},
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mask\tnon-empty slices\tencoding\tstored bytes\t% of raw\tlargest chunk\tencode MB/s\tdecode MB/s\t")
	for _, m := range masks {
		v := m.make()
		var nonEmpty []int
		for k := 0; k < v.Slices; k++ {
			if !v.SliceEmpty(k) {
				nonEmpty = append(nonEmpty, k)
			}
		}
		n := v.Columns * v.Rows
		raw := float64(len(v.Voxels))
		for _, c := range candidates() {
			chunks := make([][]byte, len(nonEmpty))
			start := time.Now()
			var total, largest int
			for x, k := range nonEmpty {
				chunks[x] = c.encode(v.Slice(k), v.Columns, v.Rows)
				total += len(chunks[x])
				largest = max(largest, len(chunks[x]))
			}
			enc := time.Since(start)
			buf := make([]byte, n)
			start = time.Now()
			for x, k := range nonEmpty {
				clear(buf)
				if err := c.decode(buf, chunks[x], v.Columns, v.Rows); err != nil || string(buf) != string(v.Slice(k)) {
					t.Fatalf("%s %s slice %d: round trip failed (%v)", m.name, c.name, k, err)
				}
			}
			dec := time.Since(start)
			mb := float64(len(nonEmpty)*n) / 1e6
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.3f\t%d\t%.0f\t%.0f\t\n", m.name, len(nonEmpty), c.name, total, 100*float64(total)/raw, largest, mb/enc.Seconds(), mb/dec.Seconds())
		}
	}
	tw.Flush()
}
