// Package deid owns de-identification: versioned per-project profiles that
// implement the DICOM PS3.15 Annex E Basic Application Level
// Confidentiality Profile and its options over every attribute of Table
// E.1-1 (shipped as data, table_e1_1.tsv), keyed pseudonyms and UID
// remapping that are deterministic per project, per-patient date shifting,
// quarantine of images that may carry burned-in text, the encrypted
// linkage of originals to pseudonyms, and the PHI scanner that checks every
// result. It fails closed: what it cannot process it refuses.
//
// It is written here: no Go library implements Annex E, and the profile
// must run on radmark's own dicom.Dataset.
package deid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Errors Apply returns; callers map them to refusals (C-STORE 0xC000,
// STOW failure), never to a pass-through.
var (
	ErrNoProfile     = errors.New("deid: project has no valid de-identification profile")
	ErrUnprocessable = errors.New("deid: instance cannot be de-identified by the profile")
	// errPanic marks a recovered panic: a bug the fuzz test must see.
	errPanic = errors.New("internal failure")
)

func panicked(err error) bool { return errors.Is(err, errPanic) }

// Options are the PS3.15 E.3 options a profile applies on top of the basic
// profile.
type Options struct {
	RetainLongitudinalModifiedDates bool `json:"retain_longitudinal_modified_dates"`
	RetainPatientCharacteristics    bool `json:"retain_patient_characteristics"`
	RetainDeviceIdentity            bool `json:"retain_device_identity"`
	CleanDescriptors                bool `json:"clean_descriptors"`
	CleanStructuredContent          bool `json:"clean_structured_content"`
	RetainSafePrivate               bool `json:"retain_safe_private"`
}

// PrivateTag names one private element by its creator and element byte
// (the low byte of the element number), as private blocks move.
type PrivateTag struct {
	Group   uint16 `json:"group"`
	Creator string `json:"creator"`
	Element uint8  `json:"element"`
}

// Profile is one version of a project's de-identification profile.
type Profile struct {
	Version int     `json:"version"`
	Name    string  `json:"name"`
	Options Options `json:"options"`
	// SafePrivate lists the private elements kept under RetainSafePrivate.
	SafePrivate []PrivateTag `json:"safe_private,omitempty"`
	CreatedBy   string       `json:"created_by,omitempty"`
	CreatedAt   time.Time    `json:"created_at,omitzero"`
}

// Validate reports what makes a profile unusable.
func (p *Profile) Validate() error {
	if p == nil {
		return ErrNoProfile
	}
	if p.Version < 1 {
		return fmt.Errorf("%w: version must be 1 or more", ErrNoProfile)
	}
	if strings.TrimSpace(p.Name) == "" {
		return fmt.Errorf("%w: name is empty", ErrNoProfile)
	}
	if p.Options.RetainSafePrivate && len(p.SafePrivate) == 0 {
		return fmt.Errorf("%w: retain safe private needs a safe list", ErrNoProfile)
	}
	for _, s := range p.SafePrivate {
		if s.Group%2 == 0 || s.Group <= 0x0008 || strings.TrimSpace(s.Creator) == "" {
			return fmt.Errorf("%w: safe private tag (%04X,%q,%02X) is not private", ErrNoProfile, s.Group, s.Creator, s.Element)
		}
	}
	return nil
}

// CID 7050 codes (DCM) for the profile and its options.
type code struct{ value, meaning string }

var (
	codeBasic          = code{"113100", "Basic Application Confidentiality Profile"}
	codeModifiedDates  = code{"113107", "Retain Longitudinal Temporal Information Modified Dates Option"}
	codePatientChars   = code{"113108", "Retain Patient Characteristics Option"}
	codeDeviceIdentity = code{"113109", "Retain Device Identity Option"}
	codeCleanDesc      = code{"113105", "Clean Descriptors Option"}
	codeCleanStruct    = code{"113104", "Clean Structured Content Option"}
	codeSafePrivate    = code{"113111", "Retain Safe Private Option"}
)

func (p *Profile) codes() []code {
	c := []code{codeBasic}
	o := p.Options
	for _, x := range []struct {
		on bool
		c  code
	}{{o.RetainLongitudinalModifiedDates, codeModifiedDates}, {o.RetainPatientCharacteristics, codePatientChars}, {o.RetainDeviceIdentity, codeDeviceIdentity}, {o.CleanDescriptors, codeCleanDesc}, {o.CleanStructuredContent, codeCleanStruct}, {o.RetainSafePrivate, codeSafePrivate}} {
		if x.on {
			c = append(c, x.c)
		}
	}
	return c
}

// Method is the DeidentificationMethod text written into every result.
func (p *Profile) Method() string {
	s := fmt.Sprintf("radmark deid %s v%d:", p.Name, p.Version)
	for _, c := range p.codes() {
		s += " " + c.value
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// Link is one original→pseudonym pair made while de-identifying; the
// caller stores it sealed (see Sealer), never in clear.
type Link struct {
	Kind      string `json:"kind"` // patient_id, patient_name, accession, study_uid, series_uid, sop_uid
	Original  string `json:"original"`
	Pseudonym string `json:"pseudonym"`
}

// Result is the outcome of Apply.
type Result struct {
	Dataset *dicom.Dataset
	// Quarantine is non-empty when the instance may carry burned-in text:
	// it must go to review, not to the project.
	Quarantine string
	Links      []Link
	// Linkage is Links sealed for the project (Service with a Sealer
	// only), to be kept with the instance.
	Linkage *radmark.SealedLinkage
	// DateShiftDays is the patient's shift (negative: earlier).
	DateShiftDays int
}

// Deidentifier applies one profile with one project's key.
type Deidentifier struct {
	profile Profile
	key     []byte
}

// New returns a Deidentifier; projectKey must be at least 32 bytes (see
// ProjectKey).
func New(p Profile, projectKey []byte) (*Deidentifier, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(projectKey) < 32 {
		return nil, errors.New("deid: project key shorter than 32 bytes")
	}
	return &Deidentifier{profile: p, key: projectKey}, nil
}

// ProjectKey derives a project's key from the site secret, so pseudonyms
// and UIDs are consistent within a project and unrelated across projects.
func ProjectKey(siteSecret []byte, projectID string) []byte {
	m := hmac.New(sha256.New, siteSecret)
	m.Write([]byte("radmark deid project key\x00" + projectID))
	return m.Sum(nil)
}

func (d *Deidentifier) mac(kind, v string) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return m.Sum(nil)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// UID maps a UID to its 2.25 replacement (a UUIDv8 from the keyed hash).
// Standard UIDs (1.2.840.10008.*) are kept.
func (d *Deidentifier) UID(uid string) string {
	if uid == "" || strings.HasPrefix(uid, "1.2.840.10008.") {
		return uid
	}
	h := d.mac("uid", uid)[:16]
	h[6] = h[6]&0x0f | 0x80 // version 8
	h[8] = h[8]&0x3f | 0x80 // RFC 9562 variant
	return "2.25." + new(big.Int).SetBytes(h).String()
}

func (d *Deidentifier) pseudo(kind, v string, n int) string {
	return b32.EncodeToString(d.mac(kind, v))[:n]
}

// PatientPseudonym is the pseudonymous PatientID for an original ID and
// issuer.
func (d *Deidentifier) PatientPseudonym(id, issuer string) string {
	return "RM" + d.pseudo("patient", issuer+"\x00"+id, 14)
}

// dateShift is the patient's shift in days: between 1 and 10 years back,
// whole weeks so weekdays keep their meaning.
func (d *Deidentifier) dateShift(patientKey string) int {
	v := binary.BigEndian.Uint64(d.mac("dateshift", patientKey)[:8])
	weeks := 52 + int(v%(52*9))
	return -7 * weeks
}

// burnedIn reports why an instance may carry burned-in text.
func burnedIn(ds *dicom.Dataset) string {
	if strings.EqualFold(ds.String(tagBurnedInAnnotation), "YES") {
		return "BurnedInAnnotation is YES"
	}
	cls := ds.String(dicom.TagSOPClassUID)
	switch {
	case strings.HasPrefix(cls, "1.2.840.10008.5.1.4.1.1.7"):
		return "secondary capture"
	case strings.HasPrefix(cls, "1.2.840.10008.5.1.4.1.1.6.") || strings.HasPrefix(cls, "1.2.840.10008.5.1.4.1.1.3.1"):
		return "ultrasound"
	case strings.HasPrefix(cls, "1.2.840.10008.5.1.4.1.1.77.1.") && !strings.HasPrefix(cls, "1.2.840.10008.5.1.4.1.1.77.1.6"):
		return "visible light photograph or video"
	}
	switch strings.ToUpper(ds.String(dicom.TagModality)) {
	case "US", "SC", "OT", "XC", "ES", "DOC":
		return "modality " + ds.String(dicom.TagModality)
	}
	for _, v := range ds.Strings(tagImageType) {
		if u := strings.ToUpper(v); u == "SCREEN SHOT" || u == "SCREENSHOT" || u == "SECONDARY CAPTURE" {
			return "image type " + v
		}
	}
	if strings.HasPrefix(strings.ToUpper(ds.String(tagConversionType)), "WSD") {
		return "workstation screenshot"
	}
	return ""
}

var (
	tagBurnedInAnnotation         = dicom.NewTag(0x0028, 0x0301)
	tagImageType                  = dicom.NewTag(0x0008, 0x0008)
	tagConversionType             = dicom.NewTag(0x0008, 0x0064)
	tagPatientName                = dicom.NewTag(0x0010, 0x0010)
	tagIssuerOfPatientID          = dicom.NewTag(0x0010, 0x0021)
	tagAccessionNumber            = dicom.NewTag(0x0008, 0x0050)
	tagStudyInstanceUID           = dicom.NewTag(0x0020, 0x000D)
	tagSeriesInstanceUID          = dicom.NewTag(0x0020, 0x000E)
	tagPatientIdentityRemoved     = dicom.NewTag(0x0012, 0x0062)
	tagDeidentificationMethod     = dicom.NewTag(0x0012, 0x0063)
	tagDeidentificationMethodCode = dicom.NewTag(0x0012, 0x0064)
	tagLongitudinalTemporal       = dicom.NewTag(0x0028, 0x0303)
	tagCodeValue                  = dicom.NewTag(0x0008, 0x0100)
	tagCodingSchemeDesignator     = dicom.NewTag(0x0008, 0x0102)
	tagCodeMeaning                = dicom.NewTag(0x0008, 0x0104)
)

// Apply de-identifies a copy of ds (ds itself is not changed). An
// instance that may carry burned-in text is de-identified too but comes
// back with Result.Quarantine set.
func (d *Deidentifier) Apply(ds *dicom.Dataset) (res *Result, err error) {
	if ds == nil || ds.String(dicom.TagSOPInstanceUID) == "" || ds.String(dicom.TagSOPClassUID) == "" {
		return nil, fmt.Errorf("%w: no SOP Class or SOP Instance UID", ErrUnprocessable)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: %w: %v", ErrUnprocessable, errPanic, r)
		}
	}()
	pid := ds.String(dicom.TagPatientID)
	issuer := ds.String(tagIssuerOfPatientID)
	r := &run{d: d, res: &Result{}}
	r.patient = d.PatientPseudonym(pid, issuer)
	r.shift = d.dateShift(issuer + "\x00" + pid)
	r.res.DateShiftDays = r.shift
	r.link("patient_id", pid, r.patient)
	r.link("patient_name", ds.String(tagPatientName), r.patient)
	if acc := ds.String(tagAccessionNumber); acc != "" {
		r.accession = "A" + d.pseudo("accession", acc, 15)
		r.link("accession", acc, r.accession)
	}
	for _, x := range []struct {
		kind string
		tag  dicom.Tag
	}{{"study_uid", tagStudyInstanceUID}, {"series_uid", tagSeriesInstanceUID}, {"sop_uid", dicom.TagSOPInstanceUID}} {
		if v := ds.String(x.tag); v != "" {
			r.link(x.kind, v, d.UID(v))
		}
	}
	r.needles = r.needlesOf(ds)
	out, err := r.dataset(ds, 0)
	if err != nil {
		return nil, err
	}
	d.stamp(out)
	r.res.Dataset = out
	r.res.Quarantine = burnedIn(ds)
	return r.res, nil
}

// stamp writes PatientIdentityRemoved, the method and its CID 7050 codes.
func (d *Deidentifier) stamp(ds *dicom.Dataset) {
	ds.SetStringVR(tagPatientIdentityRemoved, dicom.CS, "YES")
	ds.SetStringVR(tagDeidentificationMethod, dicom.LO, d.profile.Method())
	var items []*dicom.Dataset
	for _, c := range d.profile.codes() {
		it := &dicom.Dataset{}
		it.SetStringVR(tagCodeValue, dicom.SH, c.value)
		it.SetStringVR(tagCodingSchemeDesignator, dicom.SH, "DCM")
		it.SetStringVR(tagCodeMeaning, dicom.LO, c.meaning)
		items = append(items, it)
	}
	ds.SetItems(tagDeidentificationMethodCode, items...)
	if d.profile.Options.RetainLongitudinalModifiedDates {
		ds.SetStringVR(tagLongitudinalTemporal, dicom.CS, "MODIFIED")
	} else {
		ds.SetStringVR(tagLongitudinalTemporal, dicom.CS, "REMOVED")
	}
}

type run struct {
	d         *Deidentifier
	res       *Result
	patient   string
	accession string
	shift     int
	// needles are the original's identifying strings (names, IDs, dates):
	// a kept text value that repeats one is blanked.
	needles []string
}

func (r *run) link(kind, orig, pseudo string) {
	if orig == "" {
		return
	}
	r.res.Links = append(r.res.Links, Link{Kind: kind, Original: orig, Pseudonym: pseudo})
}

const maxDepth = 32

// dataset returns a de-identified copy of ds.
func (r *run) dataset(ds *dicom.Dataset, depth int) (*dicom.Dataset, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: sequences nested deeper than %d", ErrUnprocessable, maxDepth)
	}
	out := *ds // keeps the item's character set
	out.Elements = make([]dicom.Element, 0, len(ds.Elements))
	creators := map[dicom.Tag]string{} // (gggg,00xx) -> creator
	for i := range ds.Elements {
		e := ds.Elements[i]
		if e.Tag.IsPrivateCreator() {
			creators[e.Tag] = strings.TrimSpace(string(e.Value))
		}
	}
	for i := range ds.Elements {
		e := ds.Elements[i]
		if e.Bulk && e.Tag != dicom.TagPixelData {
			return nil, fmt.Errorf("%w: %s was not loaded", ErrUnprocessable, e.Tag)
		}
		if e.Tag.IsPrivate() {
			if !r.keepPrivate(e.Tag, creators) {
				continue
			}
			if len(e.Items) > 0 {
				items, err := r.items(e.Items, depth)
				if err != nil {
					return nil, err
				}
				e.Items = items
			}
			out.Elements = append(out.Elements, e)
			continue
		}
		rule, inTable := profileTable.rule(e.Tag)
		if !inTable && (e.VR == dicom.DA || e.VR == dicom.DT) && len(e.Value) > 0 {
			// Dates the table does not list still date the patient's
			// timeline: shifted with the others, or dummied.
			ne, _, err := r.dummy(e)
			if err != nil {
				return nil, err
			}
			out.Elements = append(out.Elements, ne)
			continue
		}
		if !inTable {
			// Attributes the table does not list are kept, but sequences
			// are walked (listed attributes nest anywhere) and free text
			// that repeats an identifying string is blanked.
			if len(e.Items) > 0 {
				items, err := r.items(e.Items, depth)
				if err != nil {
					return nil, err
				}
				e.Items = items
			} else if searched(&e) {
				e.Value = r.scrub(e.VR, e.Value)
			}
			out.Elements = append(out.Elements, e)
			continue
		}
		ne, keep, err := r.apply(e, rule, depth)
		if err != nil {
			return nil, err
		}
		if keep {
			out.Elements = append(out.Elements, ne)
		}
	}
	return &out, nil
}

func (r *run) items(items []*dicom.Dataset, depth int) ([]*dicom.Dataset, error) {
	out := make([]*dicom.Dataset, len(items))
	for i, it := range items {
		c, err := r.dataset(it, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func (r *run) keepPrivate(t dicom.Tag, creators map[dicom.Tag]string) bool {
	o := r.d.profile
	if !o.Options.RetainSafePrivate {
		return false
	}
	if t.IsPrivateCreator() {
		// Kept only when some safe element lives in its block: checked
		// lazily by keeping creators whose name is on the list.
		for _, s := range o.SafePrivate {
			if s.Group == t.Group() && s.Creator == strings.TrimSpace(creatorOf(t, creators)) {
				return true
			}
		}
		return false
	}
	block := dicom.NewTag(t.Group(), t.Element()>>8)
	creator, ok := creators[block]
	if !ok {
		return false
	}
	for _, s := range o.SafePrivate {
		if s.Group == t.Group() && s.Creator == creator && s.Element == uint8(t.Element()) {
			return true
		}
	}
	return false
}

func creatorOf(t dicom.Tag, creators map[dicom.Tag]string) string { return creators[t] }

// effectiveAction resolves a row for this profile to one action.
func (r *run) effectiveAction(rule Rule) Action {
	o := r.d.profile.Options
	opt := func(col int, on bool) (Action, bool) {
		if on && rule.Opt[col] != "" {
			return Action(rule.Opt[col]), true
		}
		return "", false
	}
	// The most retentive applicable option wins, as PS3.15 E.3 says.
	if a, ok := opt(colPatientChars, o.RetainPatientCharacteristics); ok {
		return a
	}
	if a, ok := opt(colDeviceID, o.RetainDeviceIdentity); ok {
		return a
	}
	if a, ok := opt(colModifiedDates, o.RetainLongitudinalModifiedDates); ok {
		return a
	}
	if a, ok := opt(colCleanDesc, o.CleanDescriptors); ok {
		return a
	}
	if a, ok := opt(colCleanStruct, o.CleanStructuredContent); ok {
		return a
	}
	switch rule.Basic {
	case "X/Z":
		return Zero
	case "X/D", "Z/D", "X/Z/D":
		// D wherever a dummy is allowed: the attribute may be Type 1 in
		// the IOD, and a dummy never harms where X or Z would do.
		return Dummy
	case "X/Z/U*":
		return KeepUID
	}
	return Action(rule.Basic)
}

// apply runs one row's action on e; keep false removes it.
func (r *run) apply(e dicom.Element, rule Rule, depth int) (dicom.Element, bool, error) {
	a := r.effectiveAction(rule)
	isSeq := e.VR == dicom.SQ || len(e.Items) > 0
	switch e.Tag {
	case dicom.TagPatientID, tagPatientName, tagAccessionNumber:
		// Whatever the sender encoded (even items), the pseudonym replaces it.
		v := r.patient
		if e.Tag == tagAccessionNumber {
			v = r.accession
		}
		e.Value, e.Items, e.Fragments, e.Encapsulated = padded([]byte(v)), nil, nil, false
		if e.VR == dicom.SQ || e.VR == dicom.UN {
			e.VR = map[dicom.Tag]dicom.VR{dicom.TagPatientID: dicom.LO, tagPatientName: dicom.PN, tagAccessionNumber: dicom.SH}[e.Tag]
		}
		return e, true, nil
	}
	switch a {
	case Remove:
		return e, false, nil
	case Zero:
		if !isSeq || len(e.Items) == 0 {
			e.Value, e.Items = nil, nil
			return e, true, nil
		}
		// A sequence with items keeps them, cleaned by the profile: an
		// empty sequence is invalid where the IOD makes it Type 3 or 1.
	case NewUID:
		if e.VR != dicom.UI {
			return e, false, nil
		}
		e.Value = r.uids(e.Value)
		return e, true, nil
	}
	if isSeq {
		// K, C, D and U* on a sequence: keep it and apply the profile to
		// every item (a dummy for a sequence is its cleaned items).
		items, err := r.items(e.Items, depth)
		if err != nil {
			return e, false, err
		}
		e.Items = items
		return e, true, nil
	}
	switch a {
	case Keep:
		if e.VR != dicom.DA && e.VR != dicom.DT && searched(&e) {
			e.Value = r.scrub(e.VR, e.Value)
		}
		return e, true, nil
	case Clean:
		return r.clean(e)
	case Dummy, KeepUID:
		return r.dummy(e)
	}
	return e, false, fmt.Errorf("%w: unknown action %q for %s", ErrUnprocessable, a, e.Tag)
}

// clean applies C: dates and times are shifted, descriptors are kept unless
// they repeat an identifying string, in which case they are blanked.
func (r *run) clean(e dicom.Element) (dicom.Element, bool, error) {
	switch e.VR {
	case dicom.DA, dicom.DT:
		v, err := r.shiftDates(e.VR, e.Value)
		if err != nil {
			return e, false, err
		}
		e.Value = v
		return e, true, nil
	case dicom.TM:
		return e, true, nil
	case dicom.UI:
		e.Value = r.uids(e.Value)
		return e, true, nil
	case dicom.PN:
		e.Value = nil
		return e, true, nil
	}
	e.Value = r.scrub(e.VR, e.Value)
	return e, true, nil
}

// dummy applies D: a value of the VR that carries nothing of the original.
func (r *run) dummy(e dicom.Element) (dicom.Element, bool, error) {
	switch e.VR {
	case dicom.UI:
		e.Value = r.uids(e.Value)
	case dicom.DA:
		if r.d.profile.Options.RetainLongitudinalModifiedDates {
			return r.clean(e)
		}
		e.Value = []byte("19000101")
	case dicom.DT:
		if r.d.profile.Options.RetainLongitudinalModifiedDates {
			return r.clean(e)
		}
		e.Value = []byte("19000101000000")
	case dicom.TM:
		e.Value = []byte("000000")
	case dicom.PN:
		e.Value = padded([]byte("ANONYMOUS"))
	case dicom.AE, dicom.CS, dicom.LO, dicom.SH, dicom.LT, dicom.ST, dicom.UT, dicom.UC:
		e.Value = padded([]byte("ANONYMIZED"))
		if e.VR == dicom.CS || e.VR == dicom.AE {
			e.Value = padded([]byte("REMOVED"))
		}
	case dicom.AS:
		e.Value = []byte("000Y")
	case dicom.IS, dicom.DS:
		e.Value = padded([]byte("0"))
	case dicom.US, dicom.SS:
		e.Value = make([]byte, 2)
	case dicom.UL, dicom.SL, dicom.FL:
		e.Value = make([]byte, 4)
	case dicom.FD:
		e.Value = make([]byte, 8)
	default:
		e.Value = nil
	}
	return e, true, nil
}

func padded(b []byte) []byte {
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	return b
}

// uids remaps every value of a UI element.
func (r *run) uids(v []byte) []byte {
	s := strings.TrimRight(string(v), "\x00 ")
	if s == "" {
		return nil
	}
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = r.d.UID(strings.TrimSpace(p))
	}
	out := []byte(strings.Join(parts, `\`))
	if len(out)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// shiftDates shifts every value of a DA or DT element by the patient's
// shift; a value that is not a date is refused (it could be anything).
func (r *run) shiftDates(vr dicom.VR, v []byte) ([]byte, error) {
	s := strings.TrimRight(string(v), "\x00 ")
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		// Ranges (a-b) appear in queries, not in stored instances.
		if len(p) < 8 {
			if vr == dicom.DT && len(p) >= 4 {
				parts[i] = "19000101"[:len(p)]
				continue
			}
			return nil, fmt.Errorf("%w: date %q", ErrUnprocessable, p)
		}
		t, err := time.Parse("20060102", p[:8])
		if err != nil {
			// Old ACR-NEMA style "1990.01.01".
			if t2, err2 := time.Parse("2006.01.02", p); err2 == nil && vr == dicom.DA {
				parts[i] = t2.AddDate(0, 0, r.shift).Format("20060102")
				continue
			}
			return nil, fmt.Errorf("%w: date %q: %v", ErrUnprocessable, p, err)
		}
		parts[i] = t.AddDate(0, 0, r.shift).Format("20060102") + p[8:]
	}
	return padded([]byte(strings.Join(parts, `\`))), nil
}

// scrub replaces a free-text value that repeats an identifying string of
// the original with a dummy (not with nothing: the attribute may be Type 1).
func (r *run) scrub(vr dicom.VR, v []byte) []byte {
	if _, found := containsNeedle(v, r.needles); !found {
		return v
	}
	if vr == dicom.PN {
		return padded([]byte("ANONYMOUS"))
	}
	return padded([]byte("ANONYMIZED"))
}
