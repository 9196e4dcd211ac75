package dicom

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// FuzzParse feeds arbitrary bytes to the parser and everything that reads
// its result. None of it may panic, and the parser must not allocate beyond
// what the input can justify (the fuzzer's memory limit enforces it).
func FuzzParse(f *testing.F) {
	ds := sampleDataset()
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		f.Add(encode(f, ds, ts))
	}
	// The shared corpus's malformed files, when it is there, are seeds too:
	// "no panic on any of them" is part of the contract.
	malformed, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(f), "..", "shared", "data", "malformed", "*", "*"))
	for _, m := range malformed {
		if b, err := os.ReadFile(m); err == nil && len(b) < 1<<16 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []ParseOptions{{}, {SkipPixelData: true, BulkDataThreshold: 16}} {
			file, err := ParseBytes(data, opts)
			if err != nil {
				if errors.Is(err, errParserPanic) {
					t.Fatalf("parser panicked: %v", err)
				}
				continue
			}
			_ = MarshalJSON(file.Dataset, JSONOptions{})
			if pi, err := file.Dataset.PixelInfo(); err == nil {
				if e := file.Dataset.Get(pi.PixelTag); e != nil {
					locs, err := LocateFrames(file.Dataset, e, pi)
					if err == nil && e.Value != nil && len(locs) > 0 && pi.FrameBits() < 1<<24 {
						r := locs[0].Ranges[0]
						start := r.Offset - e.Offset
						if start >= 0 && start+r.Length <= int64(len(e.Value)) {
							_, _, _, _ = NativeFrame(pi, e.Value[start:start+r.Length], locs[0].BitOffset, false)
						}
					}
				}
			}
		}
	})
}
