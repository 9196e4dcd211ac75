package dicom

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteParseRoundTrip(t *testing.T) {
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			f, err := ParseBytes(encode(t, sampleDataset(), ts), ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if f.TransferSyntax.UID != ts || !f.Preamble || f.Meta == nil {
				t.Fatalf("file meta: ts %s preamble %v", f.TransferSyntax.UID, f.Preamble)
			}
			if got := f.Meta.String(TagImplementationClassUID); got != ImplementationClassUID {
				t.Errorf("ImplementationClassUID %q", got)
			}
			wantDS := sampleDataset()
			if ts == ImplicitVRLittleEndian {
				// Without a private dictionary an implicit-VR reader cannot
				// know the VR of a private element.
				wantDS.Get(NewTag(0x0009, 0x1001)).VR = UN
			}
			want := string(MarshalJSON(wantDS, JSONOptions{}))
			got := string(MarshalJSON(f.Dataset, JSONOptions{}))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("JSON after round trip (-want +got):\n%s", diff)
			}
			if name := f.Dataset.String(TagPatientName); name != "Müller^Jörg=ミュラー^ヨルク" {
				t.Errorf("PatientName %q", name)
			}
			if v := f.Dataset.Get(NewTag(0x0072, 0x0082)).Ints(); len(v) != 2 || v[0] != -1<<40 || v[1] != 7 {
				t.Errorf("SV values %v", v)
			}
		})
	}
}

// TestRewriteSharedCorpus parses every real file, writes it back as
// explicit VR little endian and parses that: the two readings must agree.
func TestRewriteSharedCorpus(t *testing.T) {
	root, files := sharedDICOMFiles(t)
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		f, err := ParseFile(path, ParseOptions{})
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if f.Dataset.Get(TagSOPInstanceUID) == nil || f.Dataset.Get(TagSOPClassUID) == nil {
			continue
		}
		ts := ExplicitVRLittleEndian
		if f.TransferSyntax.Encapsulated {
			ts = f.TransferSyntax.UID
		}
		var buf bytes.Buffer
		if err := WriteFile(&buf, f.Dataset, WriteOptions{TransferSyntax: ts}); err != nil {
			t.Errorf("%s: write: %v", rel, err)
			continue
		}
		g, err := ParseBytes(buf.Bytes(), ParseOptions{})
		if err != nil {
			t.Errorf("%s: re-parse: %v", rel, err)
			continue
		}
		padOddValues(f.Dataset)
		a := string(MarshalJSON(f.Dataset, JSONOptions{}))
		b := string(MarshalJSON(g.Dataset, JSONOptions{}))
		if a != b {
			t.Errorf("%s: rewritten file reads differently:\n%s", rel, cmp.Diff(a, b))
		}
	}
}

// padOddValues pads odd-length values as the writer must (PS3.5 7.1.1).
func padOddValues(ds *Dataset) {
	for i := range ds.Elements {
		e := &ds.Elements[i]
		for _, item := range e.Items {
			padOddValues(item)
		}
		if len(e.Value)%2 == 1 {
			pad := byte(0)
			if e.VR.IsText() && e.VR != UI {
				pad = ' '
			}
			e.Value = append(e.Value, pad)
		}
	}
}

func TestStringsDeep(t *testing.T) {
	ref := func(uid string) *Dataset {
		d := &Dataset{}
		d.SetString(TagReferencedSOPInstanceUID, uid)
		return d
	}
	series := &Dataset{}
	series.SetItems(NewTag(0x0008, 0x114A), ref("1.2.2"), ref("1.2.3"))
	ds := &Dataset{}
	ds.SetString(TagReferencedSOPInstanceUID, "1.2.1")
	ds.SetItems(NewTag(0x0008, 0x1115), series)
	if got := ds.StringsDeep(TagReferencedSOPInstanceUID); strings.Join(got, " ") != "1.2.2 1.2.3 1.2.1" {
		t.Errorf("StringsDeep = %q, want the three UIDs in data set (tag) order", got)
	}
	if got := ref("9").StringsDeep(TagSOPInstanceUID); got != nil {
		t.Errorf("StringsDeep of an absent tag = %q", got)
	}
}
