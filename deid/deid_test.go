package deid

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/radmark/radmark/dicom"
)

func sample() *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetStringVR(dicom.TagSOPClassUID, dicom.UI, "1.2.840.10008.5.1.4.1.1.2")
	ds.SetStringVR(dicom.TagSOPInstanceUID, dicom.UI, "1.2.3.4.5.6.7")
	ds.SetStringVR(tagStudyInstanceUID, dicom.UI, "1.2.3.4.5")
	ds.SetStringVR(tagSeriesInstanceUID, dicom.UI, "1.2.3.4.5.6")
	ds.SetStringVR(dicom.TagModality, dicom.CS, "CT")
	ds.SetStringVR(tagPatientName, dicom.PN, "Doe^Jonathan")
	ds.SetStringVR(dicom.TagPatientID, dicom.LO, "MRN-0042")
	ds.SetStringVR(dicom.NewTag(0x0010, 0x0030), dicom.DA, "19700315")
	ds.SetStringVR(dicom.NewTag(0x0008, 0x0020), dicom.DA, "20200102")
	ds.SetStringVR(tagAccessionNumber, dicom.SH, "ACC77")
	ds.SetStringVR(dicom.NewTag(0x0008, 0x0080), dicom.LO, "St Elsewhere Hospital")
	ds.SetStringVR(dicom.NewTag(0x0008, 0x1030), dicom.LO, "CT chest for Jonathan")
	// A private block with one element.
	ds.SetStringVR(dicom.NewTag(0x0029, 0x0010), dicom.LO, "ACME 1.0")
	ds.SetStringVR(dicom.NewTag(0x0029, 0x1001), dicom.LO, "Doe Jonathan MRN-0042")
	ds.SetStringVR(dicom.NewTag(0x0029, 0x1002), dicom.DS, "1.5")
	// A reference nested two levels deep.
	ref := &dicom.Dataset{}
	ref.SetStringVR(dicom.TagReferencedSOPInstanceUID, dicom.UI, "1.2.3.4.5.6.8")
	src := &dicom.Dataset{}
	src.SetItems(dicom.NewTag(0x0008, 0x2112), ref)
	ds.SetItems(dicom.NewTag(0x0008, 0x9215), src)
	// An overlay.
	ds.SetIntsVR(dicom.NewTag(0x6000, 0x0010), dicom.US, 2)
	ds.SetBytes(dicom.NewTag(0x6000, 0x3000), dicom.OW, []byte{1, 2, 3, 4})
	return ds
}

func TestApplySample(t *testing.T) {
	d := mustNew(t, testProfile(), "p")
	ds := sample()
	res, err := d.Apply(ds)
	if err != nil {
		t.Fatal(err)
	}
	out := res.Dataset
	if fs := d.Scan(ds, out); len(fs) > 0 {
		t.Fatalf("scanner: %v", fs)
	}
	if ds.String(tagPatientName) != "Doe^Jonathan" {
		t.Fatal("Apply changed its input")
	}
	if out.Has(dicom.NewTag(0x0029, 0x1001)) || out.Has(dicom.NewTag(0x6000, 0x3000)) || out.Has(dicom.NewTag(0x6000, 0x0010)) || strings.Contains(out.String(dicom.NewTag(0x0008, 0x0080)), "Elsewhere") {
		t.Error("private, overlay or institution attributes survived")
	}
	if got := out.String(dicom.NewTag(0x0008, 0x1030)); strings.Contains(got, "Jonathan") {
		t.Errorf("descriptor kept the name: %q", got)
	}
	if out.String(dicom.TagPatientID) != out.String(tagPatientName) || !strings.HasPrefix(out.String(dicom.TagPatientID), "RM") {
		t.Errorf("pseudonyms: %q %q", out.String(dicom.TagPatientID), out.String(tagPatientName))
	}
	nested := out.Items(dicom.NewTag(0x0008, 0x9215))[0].Items(dicom.NewTag(0x0008, 0x2112))[0].String(dicom.TagReferencedSOPInstanceUID)
	if nested != d.UID("1.2.3.4.5.6.8") {
		t.Errorf("nested reference %q not remapped", nested)
	}
	if res.Quarantine != "" {
		t.Errorf("a CT was quarantined: %s", res.Quarantine)
	}
	kinds := map[string]bool{}
	for _, l := range res.Links {
		kinds[l.Kind] = true
	}
	for _, k := range []string{"patient_id", "patient_name", "accession", "study_uid", "series_uid", "sop_uid"} {
		if !kinds[k] {
			t.Errorf("no %s link", k)
		}
	}
	// The scanner catches what a broken de-identification leaves.
	leaky := *out
	leaky.Elements = append([]dicom.Element(nil), out.Elements...)
	leaky.SetStringVR(dicom.NewTag(0x0008, 0x103E), dicom.LO, "series of MRN-0042")
	leaky.SetStringVR(dicom.NewTag(0x0010, 0x0030), dicom.DA, "19700315")
	if fs := d.Scan(ds, &leaky); len(fs) < 2 {
		t.Errorf("scanner missed leaks: %v", fs)
	}
}

func TestSafePrivate(t *testing.T) {
	p := testProfile()
	p.Options.RetainSafePrivate = true
	if err := p.Validate(); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("retain safe private without a list: %v", err)
	}
	p.SafePrivate = []PrivateTag{{Group: 0x0029, Creator: "ACME 1.0", Element: 0x02}}
	d := mustNew(t, p, "p")
	res, err := d.Apply(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Dataset.Has(dicom.NewTag(0x0029, 0x1002)) || !res.Dataset.Has(dicom.NewTag(0x0029, 0x0010)) {
		t.Error("safe private element or its creator removed")
	}
	if res.Dataset.Has(dicom.NewTag(0x0029, 0x1001)) {
		t.Error("unlisted private element kept")
	}
}

func TestQuarantine(t *testing.T) {
	d := mustNew(t, testProfile(), "p")
	for name, mod := range map[string]func(*dicom.Dataset){
		"burned in": func(ds *dicom.Dataset) { ds.SetStringVR(tagBurnedInAnnotation, dicom.CS, "YES") },
		"sc":        func(ds *dicom.Dataset) { ds.SetStringVR(dicom.TagSOPClassUID, dicom.UI, "1.2.840.10008.5.1.4.1.1.7") },
		"us":        func(ds *dicom.Dataset) { ds.SetStringVR(dicom.TagModality, dicom.CS, "US") },
		"screen":    func(ds *dicom.Dataset) { ds.SetStringVR(tagImageType, dicom.CS, "DERIVED", "SECONDARY", "SCREEN SHOT") },
	} {
		ds := sample()
		mod(ds)
		res, err := d.Apply(ds)
		if err != nil {
			t.Fatal(err)
		}
		if res.Quarantine == "" {
			t.Errorf("%s: not quarantined", name)
		}
	}
}

func TestFailClosed(t *testing.T) {
	if _, err := New(Profile{}, ProjectKey(testSecret, "p")); !errors.Is(err, ErrNoProfile) {
		t.Errorf("empty profile: %v", err)
	}
	d := mustNew(t, testProfile(), "p")
	ds := sample()
	ds.Remove(dicom.TagSOPInstanceUID)
	if _, err := d.Apply(ds); !errors.Is(err, ErrUnprocessable) {
		t.Errorf("no SOP Instance UID: %v", err)
	}
	ds = sample()
	ds.SetStringVR(dicom.NewTag(0x0008, 0x0020), dicom.DA, "not a date")
	if _, err := d.Apply(ds); !errors.Is(err, ErrUnprocessable) {
		t.Errorf("bad date: %v", err)
	}
	s := &Service{Profiles: profiles{}, SiteSecret: testSecret}
	if _, _, err := s.Apply(context.Background(), "none", sample()); !errors.Is(err, ErrNoProfile) {
		t.Errorf("project without profile: %v", err)
	}
	key := make([]byte, 32)
	sealer, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	s = &Service{Profiles: profiles{"p": testProfile()}, SiteSecret: testSecret, Sealer: sealer}
	res, err := s.Deidentify(context.Background(), "p", sample())
	if err != nil || res.Quarantine != "" || res.Linkage == nil {
		t.Fatalf("deidentify: %+v %v", res, err)
	}
	out := res.Dataset
	if res.Linkage.ProjectID != "p" || res.Linkage.KeyID != sealer.KeyID() {
		t.Errorf("linkage of project %s, key %s", res.Linkage.ProjectID, res.Linkage.KeyID)
	}
	links := struct{ sealed []byte }{res.Linkage.Sealed}
	got, err := sealer.Open(links.sealed, "p\x00"+out.String(dicom.TagSOPInstanceUID))
	if err != nil || len(got) == 0 || got[0].Original != "MRN-0042" {
		t.Fatalf("linkage: %v %v", got, err)
	}
	if strings.Contains(string(links.sealed), "MRN-0042") {
		t.Error("linkage stored in clear")
	}
	if _, err := sealer.Open(links.sealed, "other\x00"+out.String(dicom.TagSOPInstanceUID)); err == nil {
		t.Error("linkage opened under another row")
	}
}

type profiles map[string]Profile

func (p profiles) CurrentDeidProfile(_ context.Context, id string) (*Profile, error) {
	if pr, ok := p[id]; ok {
		return &pr, nil
	}
	return nil, ErrNoProfile
}

func TestCheck(t *testing.T) {
	d := mustNew(t, testProfile(), "p")
	ds := sample()
	if fs := d.Check(ds); len(fs) < 5 {
		t.Errorf("an identified instance passed the check: %v", fs)
	}
	res, err := d.Apply(ds)
	if err != nil {
		t.Fatal(err)
	}
	if fs := d.Check(res.Dataset); len(fs) > 0 {
		t.Errorf("check of a de-identified instance: %v", fs)
	}
}

// TestOptions: each option changes what happens to the attributes its
// column of Table E.1-1 names.
func TestOptions(t *testing.T) {
	sex, serial, study, descr := dicom.NewTag(0x0010, 0x0040), dicom.NewTag(0x0018, 0x1000), dicom.NewTag(0x0008, 0x0020), dicom.NewTag(0x0008, 0x1030)
	base := func() *dicom.Dataset {
		ds := sample()
		ds.SetStringVR(sex, dicom.CS, "F")
		ds.SetStringVR(serial, dicom.LO, "SN12345")
		ds.SetStringVR(descr, dicom.LO, "CT CHEST")
		return ds
	}
	for _, tt := range []struct {
		name string
		opt  Options
		tag  dicom.Tag
		want func(string) bool
	}{
		{"sex removed", Options{}, sex, func(v string) bool { return v == "" }},
		{"sex kept", Options{RetainPatientCharacteristics: true}, sex, func(v string) bool { return v == "F" }},
		{"serial dummied", Options{}, serial, func(v string) bool { return v == "ANONYMIZED" }},
		{"serial kept", Options{RetainDeviceIdentity: true}, serial, func(v string) bool { return v == "SN12345" }},
		{"date dummied", Options{}, study, func(v string) bool { return v == "" || v == "19000101" }},
		{"date shifted", Options{RetainLongitudinalModifiedDates: true}, study, func(v string) bool { return len(v) == 8 && v < "20200102" && v > "20090101" }},
		{"descriptor removed", Options{}, descr, func(v string) bool { return v == "" }},
		{"descriptor cleaned", Options{CleanDescriptors: true}, descr, func(v string) bool { return v == "CT CHEST" }},
	} {
		d := mustNew(t, Profile{Version: 1, Name: "o", Options: tt.opt}, "p")
		ds := base()
		res, err := d.Apply(ds)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := res.Dataset.String(tt.tag); !tt.want(got) {
			t.Errorf("%s: %s = %q", tt.name, tt.tag, got)
		}
		if fs := d.Scan(ds, res.Dataset); len(fs) > 0 {
			t.Errorf("%s: scanner: %v", tt.name, fs)
		}
		if fs := d.Check(res.Dataset); len(fs) > 0 {
			t.Errorf("%s: check: %v", tt.name, fs)
		}
	}
}
