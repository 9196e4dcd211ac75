package dimse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
)

// Tags the Q/R services use that the dicom package does not name.
const (
	tagRetrieveAETitle                 dicom.Tag = 0x00080054
	tagFailedSOPInstanceUIDList        dicom.Tag = 0x00080058
	tagNumberOfPatientRelatedStudies   dicom.Tag = 0x00201200
	tagNumberOfPatientRelatedSeries    dicom.Tag = 0x00201202
	tagNumberOfPatientRelatedInstances dicom.Tag = 0x00201204
)

// patientKeys are the attributes of the Patient level (PS3.4 C.6.1.1.2).
var patientKeys = map[radmark.Key]bool{
	radmark.KeyPatientName: true, radmark.KeyPatientID: true, radmark.KeyIssuerOfPatientID: true,
	radmark.KeyPatientBirthDate: true, radmark.KeyPatientSex: true,
}

// queryLevel reads and checks the Query/Retrieve Level of an identifier.
func queryLevel(ds *dicom.Dataset, mdl model) (string, error) {
	lvl := strings.ToUpper(strings.TrimSpace(ds.String(dicom.TagQueryRetrieveLevel)))
	switch lvl {
	case "STUDY", "SERIES", "IMAGE":
		return lvl, nil
	case "PATIENT":
		if mdl == patientRoot {
			return lvl, nil
		}
		return "", fmt.Errorf("level PATIENT is not part of the Study Root model")
	case "":
		return "", fmt.Errorf("the identifier lacks Query/Retrieve Level (0008,0052)")
	}
	return "", fmt.Errorf("unknown Query/Retrieve Level %q", lvl)
}

func archiveLevel(lvl string) radmark.Level {
	switch lvl {
	case "SERIES":
		return radmark.SeriesLevel
	case "IMAGE":
		return radmark.InstanceLevel
	}
	return radmark.StudyLevel
}

// identifierSearch turns a C-FIND identifier into the QIDO-RS search the
// archive answers, so DIMSE and DICOMweb match alike: each key with a value
// becomes a matching parameter (wildcards, ranges and UID lists keep their
// DICOM syntax, which QIDO-RS shares) and every key is asked for in the
// results.
func identifierSearch(ds *dicom.Dataset, lvl string, limit int) (*archive.Search, error) {
	params := url.Values{}
	cs := ds.Charset()
	for i := range ds.Elements {
		e := &ds.Elements[i]
		t := e.Tag
		if t.Group() <= 0x0002 || t == dicom.TagQueryRetrieveLevel || t == dicom.TagSpecificCharacterSet || t.IsPrivate() {
			continue
		}
		kw := t.Keyword()
		if kw == "" {
			continue
		}
		params.Add("includefield", kw)
		if e.VR == dicom.SQ || e.Items != nil {
			continue
		}
		value := strings.Join(e.Strings(cs), `\`)
		if value == "" || value == "*" {
			continue
		}
		key := radmark.Key(kw)
		kl := radmark.KeyLevel(key)
		if kl == 0 || kl > archiveLevel(lvl) || (lvl == "PATIENT" && !patientKeys[key]) {
			continue // not a matching key at this level: returned only
		}
		params.Add(kw, value)
	}
	params.Set("limit", strconv.Itoa(limit))
	return archive.ParseSearch(archiveLevel(lvl), "", "", params)
}

// find is the C-FIND SCP.
func (s *Server) find(ctx context.Context, a *association, m *message, mdl model, log *slog.Logger) error {
	c := m.cmd
	final := &Command{Field: CFindRSP, MessageIDRespondedTo: c.MessageID, AffectedSOPClassUID: c.AffectedSOPClassUID}
	fail := refuser(a, m, final, log.With("op", "C-FIND"))
	ident, lvl, err := queryIdentifier(m, mdl, fail)
	if ident == nil {
		return err
	}
	search, err := identifierSearch(ident, lvl, s.cfg.MaxFindResults)
	if err != nil {
		return fail(StatusDatasetMismatch, err.Error())
	}
	results, err := s.search(ctx, search, lvl)
	if err != nil {
		return fail(StatusUnableToProcess, err.Error())
	}
	log.Info("dimse: C-FIND", "level", lvl, "matches", len(results))
	if lvl != "PATIENT" && len(results) >= s.cfg.MaxFindResults {
		log.Warn("dimse: C-FIND results cut at the limit", "limit", s.cfg.MaxFindResults)
	}
	pending := StatusPending
	if len(search.Warnings) > 0 {
		pending = StatusPendingWarning
	}
	for _, r := range results {
		if a.pendingData() {
			next, err := a.readMessage()
			if err != nil {
				return err
			}
			next.close()
			if next.cmd.Field != CCancelRQ || next.cmd.MessageIDRespondedTo != c.MessageID {
				return protoErr("request 0x%04X while a C-FIND is running (asynchronous operations window is 1)", next.cmd.Field)
			}
			final.Status = StatusCancel
			return a.writeMessage(m.ctx, final, nil)
		}
		out := responseIdentifier(ident, r, lvl, s.cfg.AETitle)
		var buf bytes.Buffer
		if err := dicom.WriteDatasetSyntax(&buf, out, m.ctx.TransferSyntax); err != nil {
			return fail(StatusUnableToProcess, err.Error())
		}
		rsp := &Command{Field: CFindRSP, MessageIDRespondedTo: c.MessageID, AffectedSOPClassUID: c.AffectedSOPClassUID, Status: pending}
		if err := a.writeMessage(m.ctx, rsp, &buf); err != nil {
			return err
		}
	}
	final.Status = StatusSuccess
	return a.writeMessage(m.ctx, final, nil)
}

// refuser returns a function that ends a request with a failure status.
func refuser(a *association, m *message, final *Command, log *slog.Logger) func(uint16, string) error {
	return func(status uint16, comment string) error {
		log.Warn("dimse: request refused", "status", fmt.Sprintf("0x%04X", status), "reason", comment)
		final.Status, final.ErrorComment = status, comment
		return a.writeMessage(m.ctx, final, nil)
	}
}

// queryIdentifier reads the identifier of a Q/R request and its level; when
// it cannot, it refuses the request and returns a nil identifier.
func queryIdentifier(m *message, mdl model, fail func(uint16, string) error) (*dicom.Dataset, string, error) {
	ident, err := parseIdentifier(m)
	if err != nil {
		return nil, "", fail(StatusCannotUnderstand, err.Error())
	}
	lvl, err := queryLevel(ident, mdl)
	if err != nil {
		return nil, "", fail(StatusDatasetMismatch, err.Error())
	}
	return ident, lvl, nil
}

func parseIdentifier(m *message) (*dicom.Dataset, error) {
	if m.data == nil {
		return nil, fmt.Errorf("the request has no identifier")
	}
	b, inMem := m.data.Bytes()
	if !inMem {
		return nil, fmt.Errorf("an identifier of %d bytes is too large", m.data.Size())
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{TransferSyntax: m.ctx.TransferSyntax})
	if err != nil {
		return nil, fmt.Errorf("cannot parse the identifier: %w", err)
	}
	return f.Dataset, nil
}

// jsonObject is a DICOM JSON object (PS3.18 F.2).
type jsonObject map[string]jsonAttr

type jsonAttr struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// search runs the archive search of a level; PATIENT is answered from the
// studies, one result per patient.
func (s *Server) search(ctx context.Context, q *archive.Search, lvl string) ([]jsonObject, error) {
	var raw []archive.SearchResult
	var err error
	switch lvl {
	case "SERIES":
		raw, err = s.archive.SearchSeries(ctx, q, archive.URLs{})
	case "IMAGE":
		raw, err = s.archive.SearchInstances(ctx, q, archive.URLs{})
	default:
		q.IncludeAll = lvl == "PATIENT" || q.IncludeAll
		raw, err = s.archive.SearchStudies(ctx, q, archive.URLs{})
	}
	if err != nil {
		return nil, err
	}
	out := make([]jsonObject, 0, len(raw))
	for _, r := range raw {
		var obj jsonObject
		if err := json.Unmarshal(r, &obj); err != nil {
			return nil, fmt.Errorf("archive result: %w", err)
		}
		out = append(out, obj)
	}
	if lvl == "PATIENT" {
		out = groupPatients(out)
	}
	return out, nil
}

// groupPatients folds study results into one result per patient (PatientID
// within its issuer), counting the patient's studies, series and instances.
func groupPatients(studies []jsonObject) []jsonObject {
	var out []jsonObject
	index := map[string]int{}
	for _, st := range studies {
		key := st.str(dicom.TagPatientID) + "\x00" + st.str(dicom.NewTag(0x0010, 0x0021))
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			p := jsonObject{}
			for k, v := range st {
				if t, err := dicom.ParseTag(k); err == nil && t.Group() == 0x0010 {
					p[k] = v
				}
			}
			p.setInt(tagNumberOfPatientRelatedStudies, 0)
			p.setInt(tagNumberOfPatientRelatedSeries, 0)
			p.setInt(tagNumberOfPatientRelatedInstances, 0)
			out = append(out, p)
		}
		p := out[i]
		p.setInt(tagNumberOfPatientRelatedStudies, p.int(tagNumberOfPatientRelatedStudies)+1)
		p.setInt(tagNumberOfPatientRelatedSeries, p.int(tagNumberOfPatientRelatedSeries)+st.int(dicom.TagNumberOfStudyRelatedSeries))
		p.setInt(tagNumberOfPatientRelatedInstances, p.int(tagNumberOfPatientRelatedInstances)+st.int(dicom.TagNumberOfStudyRelatedInstances))
	}
	return out
}

func (o jsonObject) str(t dicom.Tag) string {
	a, ok := o[t.Hex()]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	var s string
	_ = json.Unmarshal(a.Value[0], &s)
	return s
}

func (o jsonObject) int(t dicom.Tag) int {
	a, ok := o[t.Hex()]
	if !ok || len(a.Value) == 0 {
		return 0
	}
	var n int
	_ = json.Unmarshal(a.Value[0], &n)
	return n
}

func (o jsonObject) setInt(t dicom.Tag, n int) {
	o[t.Hex()] = jsonAttr{VR: "IS", Value: []json.RawMessage{json.RawMessage(strconv.Itoa(n))}}
}

// responseIdentifier builds a C-FIND response: every key of the request,
// with the match's value or empty (PS3.4 C.4.1.1.3.2), in UTF-8.
func responseIdentifier(req *dicom.Dataset, match jsonObject, lvl, aeTitle string) *dicom.Dataset {
	out := &dicom.Dataset{}
	out.SetString(dicom.TagSpecificCharacterSet, "ISO_IR 192")
	out.SetString(dicom.TagQueryRetrieveLevel, lvl)
	for i := range req.Elements {
		e := &req.Elements[i]
		t := e.Tag
		if t.Group() <= 0x0002 || t == dicom.TagQueryRetrieveLevel || t == dicom.TagSpecificCharacterSet {
			continue
		}
		if t == tagRetrieveAETitle {
			out.SetStringVR(t, dicom.AE, aeTitle)
			continue
		}
		attr, ok := match[t.Hex()]
		if !ok {
			out.Put(emptyElement(t, e.VR))
			continue
		}
		putJSON(out, t, attr, e.VR)
	}
	return out
}

func emptyElement(t dicom.Tag, vr dicom.VR) dicom.Element {
	if vr == dicom.SQ {
		return dicom.Element{Tag: t, VR: dicom.SQ, Items: []*dicom.Dataset{}}
	}
	return dicom.Element{Tag: t, VR: vr, Value: []byte{}}
}

// putJSON sets one DICOM JSON attribute on ds.
func putJSON(ds *dicom.Dataset, t dicom.Tag, a jsonAttr, fallback dicom.VR) {
	vr, ok := dicom.ParseVR(a.VR)
	if !ok {
		vr = fallback
	}
	switch vr {
	case dicom.SQ:
		var items []*dicom.Dataset
		for _, raw := range a.Value {
			var obj jsonObject
			if json.Unmarshal(raw, &obj) != nil {
				continue
			}
			item := &dicom.Dataset{}
			for k, v := range obj {
				if it, err := dicom.ParseTag(k); err == nil {
					putJSON(item, it, v, dicom.UN)
				}
			}
			items = append(items, item)
		}
		if items == nil {
			items = []*dicom.Dataset{}
		}
		ds.SetItems(t, items...)
	case dicom.PN:
		var names []string
		for _, raw := range a.Value {
			var pn map[string]string
			_ = json.Unmarshal(raw, &pn)
			name := pn["Alphabetic"]
			if pn["Ideographic"] != "" || pn["Phonetic"] != "" {
				name += "=" + pn["Ideographic"]
				if pn["Phonetic"] != "" {
					name += "=" + pn["Phonetic"]
				}
			}
			names = append(names, name)
		}
		ds.SetStringVR(t, vr, names...)
	case dicom.US, dicom.SS, dicom.UL, dicom.SL, dicom.SV, dicom.UV:
		var ints []int
		for _, raw := range a.Value {
			var n int
			if json.Unmarshal(raw, &n) == nil {
				ints = append(ints, n)
			}
		}
		ds.SetIntsVR(t, vr, ints...)
	case dicom.FL, dicom.FD:
		var fs []float64
		for _, raw := range a.Value {
			var f float64
			if json.Unmarshal(raw, &f) == nil {
				fs = append(fs, f)
			}
		}
		ds.SetFloatsVR(t, vr, fs...)
	case dicom.OB, dicom.OW, dicom.OF, dicom.OD, dicom.OL, dicom.OV, dicom.UN:
		ds.Put(emptyElement(t, vr)) // bulk data is not returned by C-FIND
	default:
		var vals []string
		for _, raw := range a.Value {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				vals = append(vals, s)
				continue
			}
			vals = append(vals, string(raw)) // IS/DS come as JSON numbers
		}
		ds.SetStringVR(t, vr, vals...)
	}
}
