package labelmap

import (
	"slices"
	"strings"
	"testing"

	"github.com/radmark/radmark"
)

func TestManifestChecks(t *testing.T) {
	g := Grid{512, 512, 3}
	d := strings.Repeat("a1", 32)
	good := func() *radmark.Labelmap {
		return &radmark.Labelmap{Layer: 2, SeriesUID: "1.2", Columns: 512, Rows: 512, Slices: 3, Encoding: Encoding, Chunks: []string{"", d, d}}
	}
	for _, tc := range []struct {
		name   string
		change func(m *radmark.Labelmap)
		code   string
		want   string
	}{
		{"valid", func(*radmark.Labelmap) {}, "", ""},
		{"zero slices", func(m *radmark.Labelmap) { m.Slices, m.Chunks = 0, nil }, radmark.EINVALID, "must be positive"},
		{"huge grid", func(m *radmark.Labelmap) { m.Columns = 1 << 20 }, radmark.EINVALID, "at most 65535"},
		{"no encoding", func(m *radmark.Labelmap) { m.Encoding = "" }, radmark.EUNSUPPORTED, `encoding ""`},
		{"other encoding", func(m *radmark.Labelmap) { m.Encoding = "rle" }, radmark.EUNSUPPORTED, `encoding "rle"`},
		{"too few chunks", func(m *radmark.Labelmap) { m.Chunks = m.Chunks[:2] }, radmark.EINVALID, "2 chunk entries for 3 slices"},
		{"too many chunks", func(m *radmark.Labelmap) { m.Chunks = append(m.Chunks, "") }, radmark.EINVALID, "4 chunk entries"},
		{"upper-case digest", func(m *radmark.Labelmap) { m.Chunks[1] = strings.ToUpper(d) }, radmark.EINVALID, "slice 1: chunk digest"},
		{"short digest", func(m *radmark.Labelmap) { m.Chunks[2] = d[:10] }, radmark.EINVALID, "slice 2: chunk digest"},
		{"path in digest", func(m *radmark.Labelmap) { m.Chunks[0] = "../../" + d[6:] }, radmark.EINVALID, "slice 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.change(m)
			err := CheckManifest(m)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if radmark.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %s saying %q", err, tc.code, tc.want)
			}
			if err2 := ValidateManifest(m, g); radmark.ErrorCode(err2) != radmark.ErrorCode(err) {
				t.Errorf("ValidateManifest: %v, CheckManifest: %v", err2, err)
			}
		})
	}
	if err := ValidateManifest(good(), Grid{512, 512, 4}); radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "does not match the series grid 512×512×4") {
		t.Errorf("grid mismatch: %v", err)
	}
	if err := CheckManifest(nil); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("nil: %v", err)
	}
	if keys := Keys(good()); !slices.Equal(keys, []string{"labelmap/a1/" + d}) {
		t.Errorf("Keys = %v", keys)
	}
}

func TestNewManifest(t *testing.T) {
	m, err := NewManifest(3, "1.2.840.1", Grid{10, 20, 30})
	if err != nil {
		t.Fatal(err)
	}
	if m.Layer != 3 || m.SeriesUID != "1.2.840.1" || m.Columns != 10 || m.Rows != 20 || m.Slices != 30 || m.Encoding != Encoding || len(m.Chunks) != 30 {
		t.Errorf("NewManifest = %+v", m)
	}
	if err := ValidateManifest(m, Grid{10, 20, 30}); err != nil {
		t.Error(err)
	}
	if _, err := NewManifest(-1, "1.2", Grid{1, 1, 1}); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("negative layer: %v", err)
	}
	if _, err := NewManifest(0, "1.2", Grid{1, 0, 1}); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("bad grid: %v", err)
	}
}
