package deid

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"

	"github.com/radmark/radmark/dicom"
)

// Finding is one piece of possible PHI the scanner found in a
// de-identified instance.
type Finding struct {
	Tag    dicom.Tag // where it was found (innermost element)
	Path   string    // sequence path, e.g. (0040,A730)[2]/(0040,A123)
	Reason string
}

func (f Finding) String() string { return f.Path + ": " + f.Reason }

// Scan checks a de-identified instance against its original and the
// profile: every Table E.1-1 attribute the profile does not keep must not
// hold its original value, and no original identifying string (patient
// name and its parts, IDs, accession, dates) may appear anywhere, private
// elements, sequences and binary values included. Release must be blocked
// when it returns any finding.
func (d *Deidentifier) Scan(original, deidentified *dicom.Dataset) []Finding {
	r := &run{d: d, res: &Result{}}
	orig := map[dicom.Tag]map[string]bool{}
	var needles []string
	r.collect(original, orig, &needles, 0)
	var fs []Finding
	r.scan(deidentified, "", orig, needles, &fs, 0)
	return fs
}

// collect gathers, from the original, the values of table attributes the
// profile does not keep, and the identifying strings to search for.
func (r *run) collect(ds *dicom.Dataset, orig map[dicom.Tag]map[string]bool, needles *[]string, depth int) {
	if ds == nil || depth > maxDepth {
		return
	}
	for i := range ds.Elements {
		e := &ds.Elements[i]
		if len(e.Items) > 0 {
			for _, it := range e.Items {
				r.collect(it, orig, needles, depth+1)
			}
			continue
		}
		if e.Tag.IsPrivate() || e.Tag.Group() == 0x0002 {
			continue
		}
		rule, ok := profileTable.rule(e.Tag)
		if !ok || !e.VR.IsText() {
			continue
		}
		a := r.effectiveAction(rule)
		if a == Keep || (a == Clean && e.VR != dicom.DA && e.VR != dicom.DT && e.VR != dicom.UI) {
			continue
		}
		for _, v := range e.Strings(ds.Charset()) {
			if v == "" || (e.VR == dicom.UI && strings.HasPrefix(v, "1.2.840.10008.")) {
				continue
			}
			if orig[e.Tag] == nil {
				orig[e.Tag] = map[string]bool{}
			}
			orig[e.Tag][v] = true
			switch e.VR {
			case dicom.PN:
				*needles = append(*needles, v)
				if e.Tag == tagPatientName {
					*needles = append(*needles, strings.FieldsFunc(v, func(c rune) bool { return c == '^' || c == '=' || c == ' ' })...)
				}
			case dicom.DA:
				*needles = append(*needles, v)
			case dicom.DT:
				if len(v) >= 8 {
					*needles = append(*needles, v[:8])
				}
			case dicom.LO, dicom.SH:
				if isIdentifier(e.Tag) {
					*needles = append(*needles, v)
				}
			}
		}
	}
}

// isIdentifier reports the ID attributes whose values are searched for
// everywhere.
func isIdentifier(t dicom.Tag) bool {
	switch t {
	case dicom.TagPatientID, tagAccessionNumber, dicom.NewTag(0x0010, 0x1000), dicom.NewTag(0x0010, 0x1002),
		dicom.NewTag(0x0038, 0x0010), dicom.NewTag(0x0020, 0x0010), dicom.NewTag(0x0040, 0x2016), dicom.NewTag(0x0040, 0x2017),
		dicom.NewTag(0x0040, 0x1001), dicom.NewTag(0x0040, 0x0009), dicom.NewTag(0x0010, 0x21F0):
		return true
	}
	return false
}

// ignorable needles are too short or too common to be identifying, or are
// values radmark itself writes.
func ignorable(s string) bool {
	if len(s) < 4 {
		return true
	}
	switch strings.ToUpper(s) {
	case "ANONYMOUS", "ANONYMIZED", "REMOVED", "19000101", "UNKNOWN", "NONE", "ANON":
		return true
	}
	return false
}

func (r *run) scan(ds *dicom.Dataset, path string, orig map[dicom.Tag]map[string]bool, needles []string, fs *[]Finding, depth int) {
	if ds == nil || depth > maxDepth {
		return
	}
	for i := range ds.Elements {
		e := &ds.Elements[i]
		p := path + e.Tag.String()
		if len(e.Items) > 0 {
			for j, it := range e.Items {
				r.scan(it, fmt.Sprintf("%s[%d]/", p, j), orig, needles, fs, depth+1)
			}
			continue
		}
		if e.Tag == dicom.TagPixelData || e.Encapsulated {
			continue
		}
		if e.VR.IsText() && orig[e.Tag] != nil {
			for _, v := range e.Strings(ds.Charset()) {
				if v != "" && orig[e.Tag][v] && !ignorable(v) {
					*fs = append(*fs, Finding{Tag: e.Tag, Path: p, Reason: fmt.Sprintf("%s still holds its original value", tableName(e.Tag))})
				}
			}
		}
		if len(e.Value) == 0 || !searched(e) {
			continue
		}
		if n, ok := containsNeedle(e.Value, needles); ok {
			*fs = append(*fs, Finding{Tag: e.Tag, Path: p, Reason: fmt.Sprintf("holds the original identifying string %q", n)})
		}
	}
}

func tableName(t dicom.Tag) string {
	if r, ok := profileTable.rule(t); ok {
		return r.Name
	}
	return t.String()
}

// searched reports the elements whose values may carry free text: text
// VRs other than coded ones, and private or unknown binary values.
func searched(e *dicom.Element) bool {
	switch e.Tag {
	case tagCodeValue, tagCodingSchemeDesignator, tagCodeMeaning, dicom.NewTag(0x0008, 0x0119), dicom.NewTag(0x0008, 0x0103):
		return false // coded concepts come from coding schemes, not from the patient
	}
	switch e.VR {
	case dicom.PN, dicom.LO, dicom.SH, dicom.LT, dicom.ST, dicom.UT, dicom.UC, dicom.DA, dicom.DT:
		return true
	case dicom.UN, dicom.OB:
		return e.Tag.IsPrivate() || e.VR == dicom.UN
	}
	return false
}

// containsNeedle reports the first needle found in v as a whole word
// (case-insensitive), so "text" does not match "context".
func containsNeedle(v []byte, needles []string) (string, bool) {
	upper := bytes.ToUpper(v)
	for _, n := range needles {
		if ignorable(n) {
			continue
		}
		nb := []byte(strings.ToUpper(n))
		for off := 0; ; {
			i := bytes.Index(upper[off:], nb)
			if i < 0 {
				break
			}
			i += off
			end := i + len(nb)
			if (i == 0 || !wordByte(upper[i-1])) && (end == len(upper) || !wordByte(upper[end])) {
				return n, true
			}
			off = i + 1
		}
	}
	return "", false
}

func wordByte(c byte) bool {
	return c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)))
}

// needlesOf returns the identifying strings of an original dataset.
func (r *run) needlesOf(ds *dicom.Dataset) []string {
	var needles []string
	r.collect(ds, map[dicom.Tag]map[string]bool{}, &needles, 0)
	return needles
}

// Check examines a de-identified instance without its original (as
// `radmark deid check` does): de-identification recorded, no attribute
// the profile removes still present, no attribute it empties still holding
// a value, no UID it replaces outside the 2.25 root, no private element off
// the safe list, no overlay or curve data.
func (d *Deidentifier) Check(ds *dicom.Dataset) []Finding {
	var fs []Finding
	if ds.String(tagPatientIdentityRemoved) != "YES" {
		fs = append(fs, Finding{Tag: tagPatientIdentityRemoved, Path: tagPatientIdentityRemoved.String(), Reason: "Patient Identity Removed is not YES"})
	}
	if len(ds.Items(tagDeidentificationMethodCode)) == 0 {
		fs = append(fs, Finding{Tag: tagDeidentificationMethodCode, Path: tagDeidentificationMethodCode.String(), Reason: "no De-identification Method Code Sequence"})
	}
	r := &run{d: d}
	r.check(ds, "", &fs, 0)
	return fs
}

func (r *run) check(ds *dicom.Dataset, path string, fs *[]Finding, depth int) {
	if ds == nil || depth > maxDepth {
		return
	}
	creators := map[dicom.Tag]string{}
	for i := range ds.Elements {
		if e := &ds.Elements[i]; e.Tag.IsPrivateCreator() {
			creators[e.Tag] = strings.TrimSpace(string(e.Value))
		}
	}
	for i := range ds.Elements {
		e := &ds.Elements[i]
		p := path + e.Tag.String()
		add := func(reason string) { *fs = append(*fs, Finding{Tag: e.Tag, Path: p, Reason: reason}) }
		for j, it := range e.Items {
			r.check(it, fmt.Sprintf("%s[%d]/", p, j), fs, depth+1)
		}
		if e.Tag.IsPrivate() {
			if !r.keepPrivate(e.Tag, creators) {
				add("private element not on the profile's safe list")
			}
			continue
		}
		rule, ok := profileTable.rule(e.Tag)
		if !ok || e.Tag == dicom.TagPatientID || e.Tag == tagPatientName || e.Tag == tagAccessionNumber {
			continue
		}
		empty := len(bytes.Trim(e.Value, " \x00")) == 0 && len(e.Items) == 0 && len(e.Fragments) == 0
		switch r.effectiveAction(rule) {
		case Remove:
			add(rule.Name + " should have been removed")
		case Zero:
			if !empty && len(e.Items) == 0 {
				add(rule.Name + " should be empty")
			}
		case NewUID:
			for _, v := range e.Strings(ds.Charset()) {
				if v != "" && !strings.HasPrefix(v, "2.25.") && !strings.HasPrefix(v, "1.2.840.10008.") {
					add(rule.Name + " holds a UID that was not replaced")
				}
			}
		case Dummy:
			if e.VR == dicom.PN && !empty && strings.TrimSpace(string(e.Value)) != "ANONYMOUS" {
				add(rule.Name + " holds a name that is not a dummy")
			}
		}
	}
}
