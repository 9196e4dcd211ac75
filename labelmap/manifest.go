package labelmap

import (
	"github.com/radmark/radmark"
)

// NewManifest returns the manifest of an empty labelmap (every slice
// without label) of one layer on a series grid: the base of a labelmap's
// first Save.
func NewManifest(layer int, series radmark.UID, g Grid) (*radmark.Labelmap, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if layer < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d is negative", layer)
	}
	return &radmark.Labelmap{
		Layer: layer, SeriesUID: series,
		Columns: g.Columns, Rows: g.Rows, Slices: g.Slices,
		Encoding: Encoding,
		Chunks:   make([]string, g.Slices),
	}, nil
}

// CheckManifest checks a manifest on its own: a valid grid, the known
// encoding, one chunk entry per slice, each "" or a well-formed digest.
// The error (EINVALID, or EUNSUPPORTED for another encoding) names the
// layer and, for a bad entry, the slice.
func CheckManifest(m *radmark.Labelmap) error {
	if m == nil {
		return radmark.Errorf(radmark.EINVALID, "labelmap: no manifest")
	}
	if err := GridOf(m).Validate(); err != nil {
		return radmark.Errorf(radmark.EINVALID, "labelmap layer %d: %s", m.Layer, radmark.ErrorMessage(err))
	}
	if m.Encoding != Encoding {
		return radmark.Errorf(radmark.EUNSUPPORTED, "labelmap layer %d: encoding %q is not supported (radmark writes and reads %q)", m.Layer, m.Encoding, Encoding)
	}
	if len(m.Chunks) != m.Slices {
		return radmark.Errorf(radmark.EINVALID, "labelmap layer %d: %d chunk entries for %d slices", m.Layer, len(m.Chunks), m.Slices)
	}
	for k, d := range m.Chunks {
		if d != "" && !ValidDigest(d) {
			return radmark.Errorf(radmark.EINVALID, "labelmap layer %d slice %d: chunk digest %.80q is not 64 lowercase hex digits", m.Layer, k, d)
		}
	}
	return nil
}

// ValidateManifest is CheckManifest plus the grid the labelmap must lie
// on: that of its series (columns, rows, slices).
func ValidateManifest(m *radmark.Labelmap, g Grid) error {
	if err := CheckManifest(m); err != nil {
		return err
	}
	if got := GridOf(m); got != g {
		return radmark.Errorf(radmark.EINVALID, "labelmap layer %d: grid %s does not match the series grid %s (columns×rows×slices)", m.Layer, got, g)
	}
	return nil
}

// Keys returns the blob keys of the chunks m refers to, each once, in
// slice order of first use: what a release must copy or a collector keep.
// m must be valid (CheckManifest).
func Keys(m *radmark.Labelmap) []string {
	seen := map[string]bool{}
	var keys []string
	for _, d := range m.Chunks {
		if d != "" && !seen[d] {
			seen[d] = true
			keys = append(keys, Key(d))
		}
	}
	return keys
}

// ChangedSlices returns the slices whose chunk entries differ between two
// manifests of the same grid, without reading any chunk. Every slice whose
// labels differ is listed; a listed slice may still hold equal labels if
// its two chunks encode them differently (Diff tells).
func ChangedSlices(a, b *radmark.Labelmap) ([]int, error) {
	if err := sameGrid(a, b); err != nil {
		return nil, err
	}
	var out []int
	for k := range a.Chunks {
		if a.Chunks[k] != b.Chunks[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func sameGrid(a, b *radmark.Labelmap) error {
	if err := CheckManifest(a); err != nil {
		return err
	}
	if err := CheckManifest(b); err != nil {
		return err
	}
	if GridOf(a) != GridOf(b) {
		return radmark.Errorf(radmark.EINVALID, "labelmaps on different grids (%s and %s) cannot be compared", GridOf(a), GridOf(b))
	}
	return nil
}
