package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
)

// Stores is the rest of a metadata store besides the archive index:
// projects and label schemas, annotation sets and revisions, and the audit
// chain that every mutation of the first two appends to.
type Stores interface {
	radmark.ProjectStore
	radmark.AnnotationStore
	radmark.AuditStore
}

// StoresOpener returns a fresh, empty store that is closed when the test
// ends.
type StoresOpener func(t *testing.T) Stores

// TestAnnotationStores runs the conformance suite of radmark.ProjectStore,
// radmark.AnnotationStore and radmark.AuditStore against stores made by
// open: every method's results and errors, the audit event each mutation
// writes (and that a failed one writes none), concurrent writers, and a
// long audit chain that verifies and answers queries.
func TestAnnotationStores(t *testing.T, open func(t *testing.T) Stores) {
	tests := []struct {
		name string
		fn   func(*testing.T, StoresOpener)
	}{
		{"Projects", testProjects},
		{"ProjectValidation", testProjectValidation},
		{"Schemas", testSchemas},
		{"SchemaValidation", testSchemaValidation},
		{"Sets", testSets},
		{"SetValidation", testSetValidation},
		{"SetQueries", testSetQueries},
		{"Revisions", testRevisions},
		{"RevisionContent", testRevisionContent},
		{"RevisionErrors", testRevisionErrors},
		{"EventRollsBackMutation", testEventRollsBackMutation},
		{"AuditAppend", testAuditAppend},
		{"AuditValidation", testAuditValidation},
		{"AuditChain", testAuditChain},
		{"AuditQueries", testAuditQueries},
		{"ConcurrentWriters", func(t *testing.T, open StoresOpener) { TestConcurrentAnnotation(t, open(t)) }},
		{"ConcurrentAppends", func(t *testing.T, open StoresOpener) { TestConcurrentAppends(t, open(t)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

var idCounter atomic.Int64

// NewID returns an ID unique in the test binary, prefixed with kind.
func NewID(kind string) radmark.ID {
	return radmark.ID(fmt.Sprintf("%s-%08d", kind, idCounter.Add(1)))
}

// NewEvent returns an audit event of an action on an object, as a service
// would pass it with a mutation: the store sets Seq, PrevHash, Hash (and
// Time, left zero here).
func NewEvent(actor, action, objectType string, objectID radmark.ID) *radmark.AuditEvent {
	id := NewID("ev")
	return &radmark.AuditEvent{
		ID: id, Actor: actor, Action: action, ObjectType: objectType, ObjectID: string(objectID),
		RequestID: "req-" + string(id), Detail: `{"via":"storetest"}`,
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t testing.TB, err error, code, what string) {
	t.Helper()
	if got := radmark.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
		return
	}
	var e *radmark.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: error %v is not a *radmark.Error", what, err)
	}
	if msg := radmark.ErrorMessage(err); msg == "" || msg == "internal error" {
		t.Errorf("%s: message %q does not say what is wrong", what, msg)
	}
}

// must fails the test on err.
func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// chainLen returns the number of events in s's (short) chain, checking
// that their Seqs are 1..n.
func chainLen(t testing.TB, s radmark.AuditStore) int64 {
	t.Helper()
	all, err := s.AuditEvents(ctx(t), radmark.AuditFilter{})
	must(t, err, "AuditEvents")
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("audit event %d of the chain has Seq %d", i+1, e.Seq)
		}
	}
	return int64(len(all))
}

// expectAppended checks that exactly want were appended to the chain after
// Seq before, as the store reported them back into want: in order, with
// their fields stored exactly, linked and hashed.
func expectAppended(t testing.TB, s radmark.AuditStore, before int64, want ...*radmark.AuditEvent) {
	t.Helper()
	got, err := s.AuditEvents(ctx(t), radmark.AuditFilter{AfterSeq: before})
	must(t, err, "AuditEvents")
	if len(got) != len(want) {
		t.Errorf("%d audit events appended after seq %d, want %d: %s", len(got), before, len(want), describeEvents(got))
		return
	}
	prev := ""
	if before == 0 {
		prev = radmark.GenesisHash
	}
	for i, w := range want {
		g := got[i]
		if w.Seq != before+int64(i)+1 || w.Hash == "" || w.Time.IsZero() {
			t.Errorf("event %s as returned by the store: Seq %d, Hash %q, Time %v; want Seq %d, a hash and a time", w.ID, w.Seq, w.Hash, w.Time, before+int64(i)+1)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("stored audit event %d (-returned +stored):\n%s", g.Seq, diff)
		}
		if g.Hash != g.ComputeHash() {
			t.Errorf("stored audit event %d: hash %s does not match its content", g.Seq, g.Hash)
		}
		if prev != "" && g.PrevHash != prev {
			t.Errorf("stored audit event %d: PrevHash %s, want %s", g.Seq, g.PrevHash, prev)
		}
		prev = g.Hash
	}
}

// expectNotWritten checks that a refused mutation appended nothing and left
// its event as the caller made it.
func expectNotWritten(t testing.TB, s radmark.AuditStore, before int64, ev *radmark.AuditEvent) {
	t.Helper()
	if n := chainLen(t, s); n != before {
		t.Errorf("the chain grew from %d to %d events although the mutation failed", before, n)
	}
	if ev != nil && (ev.Seq != 0 || ev.Hash != "" || ev.PrevHash != "") {
		t.Errorf("the failed mutation's event was filled in: seq %d, hash %q", ev.Seq, ev.Hash)
	}
}

func describeEvents(evs []*radmark.AuditEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "[%d %s %s %s/%s] ", e.Seq, e.Actor, e.Action, e.ObjectType, e.ObjectID)
	}
	return b.String()
}

// normalised is t as stores keep it: UTC, whole microseconds.
func normalised(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func checkStoredTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v in UTC", what, got, want)
	}
}

// checkRecentTime checks a time the store chose itself.
func checkRecentTime(t testing.TB, what string, got, from time.Time) {
	t.Helper()
	if got.Before(from.Truncate(time.Microsecond)) || got.After(time.Now().Add(time.Minute)) || got.Location() != time.UTC ||
		!got.Equal(got.Truncate(time.Microsecond)) {
		t.Errorf("%s = %v, want the store's current time (UTC, microseconds)", what, got)
	}
}

// project creates a project with its event and fails the test on error.
func createProject(t testing.TB, s Stores, name string) *radmark.Project {
	t.Helper()
	p := &radmark.Project{ID: NewID("proj"), Name: name, CreatedBy: "alice"}
	must(t, s.CreateProject(ctx(t), p, NewEvent("alice", "project.create", "project", p.ID)), "CreateProject")
	return p
}

func createSet(t testing.TB, s Stores, project radmark.ID, study, series radmark.UID, reader string) *radmark.AnnotationSet {
	t.Helper()
	set := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: project, StudyUID: study, SeriesUID: series, Reader: reader}
	must(t, s.CreateSet(ctx(t), set, NewEvent(reader, "set.create", "annotation_set", set.ID)), "CreateSet")
	return set
}

// newRevision returns a revision of set based on parent, with a small
// distinct content.
func newRevision(set, parent radmark.ID, author string) *radmark.Revision {
	id := NewID("rev")
	content := &radmark.Content{SchemaVersion: 1, Items: []radmark.Item{{
		ID: "item-" + string(id), Kind: radmark.KindLandmark, Label: "lesion", Source: radmark.Source{Type: "human"},
		Author: author, LPS: [][3]float64{{1.5, -2.25, 100}}, Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5"},
	}}}
	return &radmark.Revision{ID: id, SetID: set, Parent: parent, Author: author, Message: "save " + string(id),
		Content: content, ContentHash: Digest(string(id))}
}

func saveEvent(r *radmark.Revision, before string) *radmark.AuditEvent {
	ev := NewEvent(r.Author, "revision.save", "annotation_set", r.SetID)
	ev.BeforeHash, ev.AfterHash = before, r.ContentHash
	ev.Detail = `{"revision":"` + string(r.ID) + `"}`
	return ev
}

func testProjects(t *testing.T, open StoresOpener) {
	s := open(t)
	all, err := s.Projects(ctx(t))
	must(t, err, "Projects")
	if len(all) != 0 {
		t.Fatalf("a new store has projects: %v", all)
	}

	created := time.Date(2024, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	liver := &radmark.Project{ID: NewID("proj"), Name: "Liver CT", Description: "Segment the liver.\nBoth lobes.",
		CreatedAt: created, CreatedBy: "alice"}
	ev := NewEvent("alice", "project.create", "project", liver.ID)
	ev.AfterHash = Digest("liver v1")
	must(t, s.CreateProject(ctx(t), liver, ev), "CreateProject")
	checkStoredTime(t, "CreatedAt after CreateProject", liver.CreatedAt, normalised(created))
	expectAppended(t, s, 0, ev)
	got, err := s.Project(ctx(t), liver.ID)
	must(t, err, "Project")
	if diff := cmp.Diff(liver, got); diff != "" {
		t.Errorf("Project (-created +stored):\n%s", diff)
	}

	// A zero CreatedAt is the store's now; names order the list (byte-wise:
	// upper case first), then IDs.
	from := time.Now()
	brain := &radmark.Project{ID: "proj-b", Name: "Brain MR", CreatedBy: "bob"}
	must(t, s.CreateProject(ctx(t), brain, NewEvent("bob", "project.create", "project", brain.ID)), "CreateProject")
	checkRecentTime(t, "CreatedAt of a project created without one", brain.CreatedAt, from)
	brain2 := &radmark.Project{ID: "proj-a", Name: "Brain MR", CreatedBy: "bob"}
	must(t, s.CreateProject(ctx(t), brain2, NewEvent("bob", "project.create", "project", brain2.ID)), "CreateProject")
	lower := &radmark.Project{ID: "proj-0", Name: "abdomen", CreatedBy: "bob"}
	must(t, s.CreateProject(ctx(t), lower, NewEvent("bob", "project.create", "project", lower.ID)), "CreateProject")
	all, err = s.Projects(ctx(t))
	must(t, err, "Projects")
	if diff := cmp.Diff([]*radmark.Project{brain2, brain, liver, lower}, all); diff != "" {
		t.Errorf("Projects (-want +got):\n%s", diff)
	}

	// A taken ID is a conflict and changes nothing.
	n := chainLen(t, s)
	dup := &radmark.Project{ID: liver.ID, Name: "Other", CreatedBy: "mallory"}
	ev = NewEvent("mallory", "project.create", "project", dup.ID)
	wantCode(t, s.CreateProject(ctx(t), dup, ev), radmark.ECONFLICT, "CreateProject with a taken ID")
	expectNotWritten(t, s, n, ev)
	if got, _ := s.Project(ctx(t), liver.ID); got == nil || got.Name != "Liver CT" {
		t.Errorf("after a refused duplicate, project is %+v", got)
	}

	// UpdateProject changes name and description only.
	upd := &radmark.Project{ID: liver.ID, Name: "Liver and spleen CT", Description: "", CreatedBy: "mallory",
		SchemaVersion: 7, CreatedAt: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	ev = NewEvent("carol", "project.update", "project", liver.ID)
	ev.BeforeHash, ev.AfterHash = Digest("liver v1"), Digest("liver v2")
	must(t, s.UpdateProject(ctx(t), upd, ev), "UpdateProject")
	want := &radmark.Project{ID: liver.ID, Name: "Liver and spleen CT", CreatedAt: liver.CreatedAt, CreatedBy: "alice"}
	if diff := cmp.Diff(want, upd); diff != "" {
		t.Errorf("project after UpdateProject (-want +got):\n%s", diff)
	}
	got, err = s.Project(ctx(t), liver.ID)
	must(t, err, "Project")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored project after UpdateProject (-want +got):\n%s", diff)
	}
	expectAppended(t, s, n, ev)

	n = chainLen(t, s)
	missing := &radmark.Project{ID: "no-such-project", Name: "X"}
	ev = NewEvent("carol", "project.update", "project", missing.ID)
	wantCode(t, s.UpdateProject(ctx(t), missing, ev), radmark.ENOTFOUND, "UpdateProject of a missing project")
	expectNotWritten(t, s, n, ev)
	_, err = s.Project(ctx(t), "no-such-project")
	wantCode(t, err, radmark.ENOTFOUND, "Project of a missing project")
	if all, _ := s.Projects(ctx(t)); len(all) != 4 {
		t.Errorf("%d projects, want 4", len(all))
	}
}

func testProjectValidation(t *testing.T, open StoresOpener) {
	s := open(t)
	existing := createProject(t, s, "Existing")
	good := func() *radmark.Project {
		return &radmark.Project{ID: NewID("proj"), Name: "Chest X-ray", CreatedBy: "alice"}
	}
	goodEvent := func(p *radmark.Project) *radmark.AuditEvent {
		return NewEvent("alice", "project.create", "project", p.ID)
	}
	tests := []struct {
		name   string
		change func(p *radmark.Project, ev **radmark.AuditEvent)
		// updateIgnores: the field is not the caller's to change after
		// creation, so UpdateProject ignores it and succeeds.
		updateIgnores bool
	}{
		{name: "no project"},
		{name: "no ID", change: func(p *radmark.Project, _ **radmark.AuditEvent) { p.ID = "" }},
		{name: "blank name", change: func(p *radmark.Project, _ **radmark.AuditEvent) { p.Name = " \t" }},
		{name: "schema version given", change: func(p *radmark.Project, _ **radmark.AuditEvent) { p.SchemaVersion = 1 }, updateIgnores: true},
		{name: "name not UTF-8", change: func(p *radmark.Project, _ **radmark.AuditEvent) { p.Name = "Chest \xff" }},
		{name: "NUL in description", change: func(p *radmark.Project, _ **radmark.AuditEvent) { p.Description = "a\x00b" }},
		{name: "time out of range", change: func(p *radmark.Project, _ **radmark.AuditEvent) {
			p.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}, updateIgnores: true},
		{name: "no event", change: func(_ *radmark.Project, ev **radmark.AuditEvent) { *ev = nil }},
		{name: "event without ID", change: func(_ *radmark.Project, ev **radmark.AuditEvent) { (*ev).ID = "" }},
		{name: "event without actor", change: func(_ *radmark.Project, ev **radmark.AuditEvent) { (*ev).Actor = "" }},
		{name: "event without action", change: func(_ *radmark.Project, ev **radmark.AuditEvent) { (*ev).Action = "" }},
		{name: "event detail not UTF-8", change: func(_ *radmark.Project, ev **radmark.AuditEvent) { (*ev).Detail = "\xc3" }},
	}
	n := chainLen(t, s)
	for _, tt := range tests {
		for _, op := range []string{"create", "update"} {
			p := good()
			if op == "update" {
				p.ID = existing.ID
			}
			ev := goodEvent(p)
			if tt.change != nil {
				tt.change(p, &ev)
			} else {
				p = nil
			}
			var err error
			if op == "create" {
				err = s.CreateProject(ctx(t), p, ev)
			} else {
				err = s.UpdateProject(ctx(t), p, ev)
			}
			if op == "update" && tt.updateIgnores {
				must(t, err, "UpdateProject: "+tt.name)
				n++
				continue
			}
			wantCode(t, err, radmark.EINVALID, op+" project: "+tt.name)
			expectNotWritten(t, s, n, ev)
		}
	}
	all, err := s.Projects(ctx(t))
	must(t, err, "Projects")
	if len(all) != 1 || all[0].ID != existing.ID || all[0].SchemaVersion != 0 || all[0].CreatedBy != "alice" {
		t.Errorf("after refused input, projects are %s", describeProjects(all))
	}
}

// schemaV1 has every optional field of labels and questions set somewhere.
func schemaV1(project radmark.ID) *radmark.LabelSchema {
	lo, hi := 0.0, 300.5
	return &radmark.LabelSchema{
		ProjectID: project, Version: 1, CreatedBy: "alice",
		CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 987654321, time.FixedZone("EST", -5*3600)),
		Labels: []radmark.Label{
			{
				ID: "liver", Name: "Liver", Color: "#aa5500",
				Category:       radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
				Type:           radmark.Code{Value: "10200004", Scheme: "SCT", Meaning: "Liver"},
				AnatomicRegion: &radmark.Code{Value: "818981001", Scheme: "SCT", Meaning: "Abdomen"},
				Kinds:          []radmark.Kind{radmark.KindSegmentation, radmark.KindBox3D},
				Description:    "Whole liver, including vessels inside it.",
			},
			{
				ID: "kidney-left", Name: "Kidney (left)", Color: "#00ff00",
				Category:               radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
				Type:                   radmark.Code{Value: "64033007", Scheme: "SCT", Meaning: "Kidney"},
				TypeModifier:           &radmark.Code{Value: "7771000", Scheme: "SCT", Meaning: "Left"},
				AnatomicRegion:         &radmark.Code{Value: "818981001", Scheme: "SCT", Meaning: "Abdomen"},
				AnatomicRegionModifier: &radmark.Code{Value: "7771000", Scheme: "SCT", Meaning: "Left"},
				Kinds:                  []radmark.Kind{radmark.KindSegmentation},
			},
			{
				ID: "nodule", Name: "Nodule «ø»", Color: "#ff0000",
				Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
				Type:     radmark.Code{Value: "RID3875", Scheme: "RADLEX", Meaning: "nodule"},
				Kinds:    []radmark.Kind{radmark.KindLength, radmark.KindBidirectional, radmark.KindLandmark},
			},
		},
		Questions: []radmark.Question{
			{ID: "quality", Text: "Image quality?", Type: radmark.QuestionSingle, Level: radmark.LevelSeries, Required: true,
				Options: []radmark.Option{{Value: "good"}, {Value: "poor", Text: "Poor", Code: &radmark.Code{Value: "X", Scheme: "99LOCAL", Meaning: "Poor"}}}},
			{ID: "findings", Text: "Findings", Type: radmark.QuestionMultiple, Level: radmark.LevelStudy,
				Options: []radmark.Option{{Value: "cyst"}, {Value: "mass"}}},
			{ID: "volume", Text: "Volume", Type: radmark.QuestionNumber, Level: radmark.LevelAnnotation, Min: &lo, Max: &hi,
				Unit: &radmark.Code{Value: "ml", Scheme: "UCUM", Meaning: "milliliter"}, Labels: []string{"liver"},
				Concept: &radmark.Code{Value: "118565006", Scheme: "SCT", Meaning: "Volume"}},
			{ID: "note", Text: "Anything else?", Type: radmark.QuestionText, Level: radmark.LevelImage},
		},
		Hash: Digest("schema v1"),
	}
}

func describeProjects(ps []*radmark.Project) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%+v ", *p)
	}
	return b.String()
}

func testSchemas(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "Abdomen CT")
	_, err := s.Schema(ctx(t), p.ID, 0)
	wantCode(t, err, radmark.ENOTFOUND, "current Schema of a project without one")
	_, err = s.Schema(ctx(t), p.ID, 1)
	wantCode(t, err, radmark.ENOTFOUND, "Schema 1 of a project without one")

	v1 := schemaV1(p.ID)
	n := chainLen(t, s)
	ev := NewEvent("alice", "schema.put", "project", p.ID)
	ev.AfterHash = v1.Hash
	must(t, s.PutSchema(ctx(t), v1, ev), "PutSchema v1")
	checkStoredTime(t, "CreatedAt after PutSchema", v1.CreatedAt, normalised(schemaV1(p.ID).CreatedAt))
	expectAppended(t, s, n, ev)
	checkSchemaVersion(t, s, p.ID, 1)
	checkSchema(t, s, p.ID, 0, v1)
	checkSchema(t, s, p.ID, 1, v1)

	// The version must be the next one: the same again or one skipped is a
	// conflict that stores nothing.
	for _, version := range []int{1, 3} {
		n = chainLen(t, s)
		bad := &radmark.LabelSchema{ProjectID: p.ID, Version: version, Labels: v1.Labels[:1], Hash: Digest("other")}
		ev = NewEvent("bob", "schema.put", "project", p.ID)
		wantCode(t, s.PutSchema(ctx(t), bad, ev), radmark.ECONFLICT, fmt.Sprintf("PutSchema version %d after 1", version))
		expectNotWritten(t, s, n, ev)
		checkSchemaVersion(t, s, p.ID, 1)
		checkSchema(t, s, p.ID, 1, v1)
	}

	// Version 2 without questions (nil), version 3 with an empty list: each
	// comes back as given. Old versions stay readable.
	from := time.Now()
	v2 := &radmark.LabelSchema{ProjectID: p.ID, Version: 2, Labels: v1.Labels[1:], CreatedBy: "bob", Hash: Digest("schema v2")}
	n = chainLen(t, s)
	ev = NewEvent("bob", "schema.put", "project", p.ID)
	ev.BeforeHash, ev.AfterHash = v1.Hash, v2.Hash
	must(t, s.PutSchema(ctx(t), v2, ev), "PutSchema v2")
	checkRecentTime(t, "CreatedAt of a schema put without one", v2.CreatedAt, from)
	expectAppended(t, s, n, ev)
	v3 := &radmark.LabelSchema{ProjectID: p.ID, Version: 3, Labels: v1.Labels, Questions: []radmark.Question{},
		CreatedBy: "carol", CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 1000, time.UTC), Hash: Digest("schema v3")}
	must(t, s.PutSchema(ctx(t), v3, NewEvent("carol", "schema.put", "project", p.ID)), "PutSchema v3")
	checkSchemaVersion(t, s, p.ID, 3)
	checkSchema(t, s, p.ID, 0, v3)
	checkSchema(t, s, p.ID, 1, v1)
	checkSchema(t, s, p.ID, 2, v2)
	checkSchema(t, s, p.ID, 3, v3)
	_, err = s.Schema(ctx(t), p.ID, 4)
	wantCode(t, err, radmark.ENOTFOUND, "Schema version 4 of 3")
	_, err = s.Schema(ctx(t), p.ID, -1)
	wantCode(t, err, radmark.EINVALID, "Schema version -1")
	_, err = s.Schema(ctx(t), "no-such-project", 0)
	wantCode(t, err, radmark.ENOTFOUND, "Schema of a missing project")
	_, err = s.Schema(ctx(t), "no-such-project", 1)
	wantCode(t, err, radmark.ENOTFOUND, "Schema 1 of a missing project")

	// Versions are per project.
	other := createProject(t, s, "Other")
	o1 := &radmark.LabelSchema{ProjectID: other.ID, Version: 1, Labels: v1.Labels[2:], Hash: Digest("other v1")}
	must(t, s.PutSchema(ctx(t), o1, NewEvent("bob", "schema.put", "project", other.ID)), "PutSchema of another project")
	checkSchema(t, s, other.ID, 0, o1)
	checkSchema(t, s, p.ID, 0, v3)

	// Updating the project keeps its schema version.
	upd := &radmark.Project{ID: p.ID, Name: "Renamed"}
	must(t, s.UpdateProject(ctx(t), upd, NewEvent("bob", "project.update", "project", p.ID)), "UpdateProject")
	if upd.SchemaVersion != 3 {
		t.Errorf("UpdateProject reports SchemaVersion %d, want 3", upd.SchemaVersion)
	}
	checkSchemaVersion(t, s, p.ID, 3)

	// Of writers racing for the next version exactly one wins.
	const writers = 8
	n = chainLen(t, s)
	errs := make([]error, writers)
	schemas := make([]*radmark.LabelSchema, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		schemas[i] = &radmark.LabelSchema{ProjectID: p.ID, Version: 4, Labels: v1.Labels[:1], CreatedBy: fmt.Sprint("writer", i),
			Hash: Digest(fmt.Sprint("v4 by ", i))}
		wg.Go(func() {
			<-start
			errs[i] = s.PutSchema(ctx(t), schemas[i], NewEvent(fmt.Sprint("writer", i), "schema.put", "project", p.ID))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both stored version 4", winner, i)
		case err == nil:
			winner = i
		default:
			wantCode(t, err, radmark.ECONFLICT, fmt.Sprintf("writer %d of version 4", i))
		}
	}
	if winner < 0 {
		t.Fatal("no writer stored version 4")
	}
	checkSchema(t, s, p.ID, 0, schemas[winner])
	if got := chainLen(t, s); got != n+1 {
		t.Errorf("%d events appended by the racing writers, want 1", got-n)
	}
}

func checkSchemaVersion(t testing.TB, s Stores, id radmark.ID, want int) {
	t.Helper()
	p, err := s.Project(ctx(t), id)
	must(t, err, "Project")
	if p.SchemaVersion != want {
		t.Errorf("project %s: SchemaVersion %d, want %d", id, p.SchemaVersion, want)
	}
}

func checkSchema(t testing.TB, s Stores, project radmark.ID, version int, want *radmark.LabelSchema) {
	t.Helper()
	got, err := s.Schema(ctx(t), project, version)
	if err != nil {
		t.Errorf("Schema(%s, %d): %v", project, version, err)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Schema(%s, %d) (-put +stored):\n%s", project, version, diff)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("Schema(%s, %d): CreatedAt %v not in UTC", project, version, got.CreatedAt)
	}
}

func testSchemaValidation(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	tests := []struct {
		name   string
		change func(sc *radmark.LabelSchema, ev **radmark.AuditEvent)
		code   string
	}{
		{"no schema", nil, radmark.EINVALID},
		{"no project", func(sc *radmark.LabelSchema, _ **radmark.AuditEvent) { sc.ProjectID = "" }, radmark.EINVALID},
		{"version 0", func(sc *radmark.LabelSchema, _ **radmark.AuditEvent) { sc.Version = 0 }, radmark.EINVALID},
		{"negative version", func(sc *radmark.LabelSchema, _ **radmark.AuditEvent) { sc.Version = -1 }, radmark.EINVALID},
		{"no hash", func(sc *radmark.LabelSchema, _ **radmark.AuditEvent) { sc.Hash = "" }, radmark.EINVALID},
		{"creator not UTF-8", func(sc *radmark.LabelSchema, _ **radmark.AuditEvent) { sc.CreatedBy = "\xfe" }, radmark.EINVALID},
		{"no event", func(_ *radmark.LabelSchema, ev **radmark.AuditEvent) { *ev = nil }, radmark.EINVALID},
		{"event without actor", func(_ *radmark.LabelSchema, ev **radmark.AuditEvent) { (*ev).Actor = "" }, radmark.EINVALID},
		{"missing project", func(sc *radmark.LabelSchema, _ **radmark.AuditEvent) { sc.ProjectID = "no-such-project" }, radmark.ENOTFOUND},
	}
	for _, tt := range tests {
		sc := schemaV1(p.ID)
		ev := NewEvent("alice", "schema.put", "project", p.ID)
		if tt.change != nil {
			tt.change(sc, &ev)
		} else {
			sc = nil
		}
		wantCode(t, s.PutSchema(ctx(t), sc, ev), tt.code, "PutSchema: "+tt.name)
		expectNotWritten(t, s, 1, ev)
	}
	checkSchemaVersion(t, s, p.ID, 0)
	_, err := s.Schema(ctx(t), p.ID, 0)
	wantCode(t, err, radmark.ENOTFOUND, "Schema after refused puts")
}

func testSets(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	p2 := createProject(t, s, "P2")
	n := chainLen(t, s)
	created := time.Date(2024, 7, 8, 9, 10, 11, 999999999, time.FixedZone("JST", 9*3600))
	a := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: "1.2.840.1", Reader: "alice", CreatedAt: created}
	ev := NewEvent("alice", "set.create", "annotation_set", a.ID)
	must(t, s.CreateSet(ctx(t), a, ev), "CreateSet")
	expectAppended(t, s, n, ev)
	checkStoredTime(t, "CreatedAt after CreateSet", a.CreatedAt, normalised(created))
	checkStoredTime(t, "UpdatedAt after CreateSet", a.UpdatedAt, normalised(created))
	got, err := s.Set(ctx(t), a.ID)
	must(t, err, "Set")
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("Set (-created +stored):\n%s", diff)
	}
	if got.Head != "" || got.HeadNumber != 0 {
		t.Errorf("a new set has head %q, number %d", got.Head, got.HeadNumber)
	}

	// One set per project, study, series and reader.
	conflicts := []struct {
		name string
		set  *radmark.AnnotationSet
	}{
		{"taken ID", &radmark.AnnotationSet{ID: a.ID, ProjectID: p.ID, StudyUID: "9.9", Reader: "bob"}},
		{"same reader and study", &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: a.StudyUID, Reader: "alice"}},
	}
	for _, c := range conflicts {
		n = chainLen(t, s)
		ev := NewEvent("alice", "set.create", "annotation_set", c.set.ID)
		err := s.CreateSet(ctx(t), c.set, ev)
		wantCode(t, err, radmark.ECONFLICT, "CreateSet with a "+c.name)
		if err != nil && !strings.Contains(err.Error(), string(a.ID)) {
			t.Errorf("CreateSet with a %s: %q does not name the existing set %s", c.name, err, a.ID)
		}
		expectNotWritten(t, s, n, ev)
	}
	// Other series, readers and projects are other sets.
	for _, ok := range []*radmark.AnnotationSet{
		{ID: NewID("set"), ProjectID: p.ID, StudyUID: a.StudyUID, SeriesUID: "1.2.840.1.1", Reader: "alice"},
		{ID: NewID("set"), ProjectID: p.ID, StudyUID: a.StudyUID, Reader: "bob"},
		{ID: NewID("set"), ProjectID: p2.ID, StudyUID: a.StudyUID, Reader: "alice"},
	} {
		n = chainLen(t, s)
		from := time.Now()
		ev := NewEvent(ok.Reader, "set.create", "annotation_set", ok.ID)
		must(t, s.CreateSet(ctx(t), ok, ev), "CreateSet")
		expectAppended(t, s, n, ev)
		checkRecentTime(t, "CreatedAt of a set created without one", ok.CreatedAt, from)
		if !ok.UpdatedAt.Equal(ok.CreatedAt) {
			t.Errorf("UpdatedAt %v, want CreatedAt %v", ok.UpdatedAt, ok.CreatedAt)
		}
	}
	dup := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: a.StudyUID, SeriesUID: "1.2.840.1.1", Reader: "alice"}
	wantCode(t, s.CreateSet(ctx(t), dup, NewEvent("alice", "set.create", "annotation_set", dup.ID)), radmark.ECONFLICT, "CreateSet on a taken series")

	n = chainLen(t, s)
	orphan := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: "no-such-project", StudyUID: "1.2", Reader: "alice"}
	ev = NewEvent("alice", "set.create", "annotation_set", orphan.ID)
	wantCode(t, s.CreateSet(ctx(t), orphan, ev), radmark.ENOTFOUND, "CreateSet in a missing project")
	expectNotWritten(t, s, n, ev)
	_, err = s.Set(ctx(t), orphan.ID)
	wantCode(t, err, radmark.ENOTFOUND, "Set of a missing set")
	all, err := s.Sets(ctx(t), radmark.SetFilter{})
	must(t, err, "Sets")
	if len(all) != 4 {
		t.Errorf("%d sets stored, want 4", len(all))
	}
}

func testSetValidation(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	tests := []struct {
		name   string
		change func(set *radmark.AnnotationSet, ev **radmark.AuditEvent)
	}{
		{"no set", nil},
		{"no ID", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.ID = "" }},
		{"no project", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.ProjectID = "" }},
		{"no study", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.StudyUID = "" }},
		{"no reader", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.Reader = "" }},
		{"head given", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.Head = "rev-x" }},
		{"head number given", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.HeadNumber = 2 }},
		{"reader not UTF-8", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.Reader = "al\xffice" }},
		{"NUL in series", func(set *radmark.AnnotationSet, _ **radmark.AuditEvent) { set.SeriesUID = "1.2\x00" }},
		{"no event", func(_ *radmark.AnnotationSet, ev **radmark.AuditEvent) { *ev = nil }},
		{"event without ID", func(_ *radmark.AnnotationSet, ev **radmark.AuditEvent) { (*ev).ID = "" }},
	}
	n := chainLen(t, s)
	for _, tt := range tests {
		set := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: "1.2.3", Reader: "alice"}
		ev := NewEvent("alice", "set.create", "annotation_set", set.ID)
		if tt.change != nil {
			tt.change(set, &ev)
		} else {
			set = nil
		}
		wantCode(t, s.CreateSet(ctx(t), set, ev), radmark.EINVALID, "CreateSet: "+tt.name)
		expectNotWritten(t, s, n, ev)
	}
	if all, err := s.Sets(ctx(t), radmark.SetFilter{}); err != nil || len(all) != 0 {
		t.Errorf("after refused input, Sets = %v, %v", all, err)
	}
}

func testSetQueries(t *testing.T, open StoresOpener) {
	s := open(t)
	projects := []*radmark.Project{createProject(t, s, "P1"), createProject(t, s, "P2")}
	base := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	var sets []*radmark.AnnotationSet
	// Created in an order unlike CreatedAt's, with ties that the ID breaks.
	k := 0
	for _, minute := range []int{5, 3, 3, 9, 0, 7, 3, 1, 8, 2, 6, 4, 0, 5} {
		k++
		set := &radmark.AnnotationSet{
			ID:        radmark.ID(fmt.Sprintf("set-%02d", (k*7)%17)),
			ProjectID: projects[k%2].ID,
			StudyUID:  radmark.UID(fmt.Sprintf("1.2.%d", k%3)),
			Reader:    []string{"alice", "bob", "carol"}[k/6%3], // with the project and study: unique
			CreatedAt: base.Add(time.Duration(minute) * time.Minute),
		}
		if k%4 == 0 {
			set.SeriesUID = radmark.UID(fmt.Sprintf("%s.%d", set.StudyUID, k))
		}
		must(t, s.CreateSet(ctx(t), set, NewEvent(set.Reader, "set.create", "annotation_set", set.ID)), "CreateSet")
		sets = append(sets, set)
	}
	slices.SortFunc(sets, func(a, b *radmark.AnnotationSet) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	ids := func(sets []*radmark.AnnotationSet) []radmark.ID {
		out := make([]radmark.ID, len(sets))
		for i, s := range sets {
			out[i] = s.ID
		}
		return out
	}
	matching := func(f radmark.SetFilter) []*radmark.AnnotationSet {
		var out []*radmark.AnnotationSet
		for _, set := range sets {
			if (f.ProjectID == "" || set.ProjectID == f.ProjectID) && (f.StudyUID == "" || set.StudyUID == f.StudyUID) &&
				(f.SeriesUID == "" || set.SeriesUID == f.SeriesUID) && (f.Reader == "" || set.Reader == f.Reader) {
				out = append(out, set)
			}
		}
		return out
	}
	filters := []radmark.SetFilter{
		{},
		{ProjectID: projects[0].ID},
		{ProjectID: projects[1].ID},
		{StudyUID: "1.2.1"},
		{SeriesUID: "1.2.2.8"},
		{Reader: "bob"},
		{ProjectID: projects[0].ID, StudyUID: "1.2.0", Reader: "alice"},
		{ProjectID: "no-such-project"},
		{Reader: "nobody"},
	}
	for _, f := range filters {
		want := matching(f)
		got, err := s.Sets(ctx(t), f)
		must(t, err, "Sets")
		if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
			t.Errorf("Sets(%+v) (-want +got):\n%s", f, diff)
		}
		if len(want) > 0 && len(got) == len(want) {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Sets(%+v) content (-want +got):\n%s", f, diff)
			}
		}
		// Pages neither skip nor repeat.
		var paged []*radmark.AnnotationSet
		for off := 0; off <= len(want); off += 3 {
			f.Limit, f.Offset = 3, off
			page, err := s.Sets(ctx(t), f)
			must(t, err, "Sets page")
			if len(page) > 3 {
				t.Errorf("Sets(%+v) returned %d sets", f, len(page))
			}
			paged = append(paged, page...)
		}
		if diff := cmp.Diff(ids(want), ids(paged)); diff != "" {
			t.Errorf("Sets(%+v) in pages of 3 (-want +got):\n%s", f, diff)
		}
	}
	got, err := s.Sets(ctx(t), radmark.SetFilter{Offset: 4})
	must(t, err, "Sets with an offset only")
	if diff := cmp.Diff(ids(sets[4:]), ids(got)); diff != "" {
		t.Errorf("Sets(Offset 4) (-want +got):\n%s", diff)
	}
	got, err = s.Sets(ctx(t), radmark.SetFilter{Offset: 100, Limit: 5})
	must(t, err, "Sets past the end")
	if len(got) != 0 {
		t.Errorf("Sets past the end = %d sets", len(got))
	}
	for _, bad := range []radmark.SetFilter{{Limit: -1}, {Offset: -1}, {Reader: "\xff"}} {
		_, err := s.Sets(ctx(t), bad)
		wantCode(t, err, radmark.EINVALID, fmt.Sprintf("Sets(%+v)", bad))
	}
}

func testRevisions(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	set := createSet(t, s, p.ID, "1.2.3", "", "alice")
	other := createSet(t, s, p.ID, "1.2.4", "", "alice")
	revs, err := s.Revisions(ctx(t), set.ID)
	must(t, err, "Revisions")
	if len(revs) != 0 {
		t.Fatalf("a new set has revisions: %v", revs)
	}

	created := time.Date(2024, 9, 10, 11, 12, 13, 141516171, time.FixedZone("IST", 19800))
	r1 := newRevision(set.ID, "", "alice")
	r1.CreatedAt = created
	n := chainLen(t, s)
	ev := saveEvent(r1, "")
	must(t, s.SaveRevision(ctx(t), r1, ev), "SaveRevision r1")
	expectAppended(t, s, n, ev)
	if r1.Number != 1 {
		t.Errorf("first revision has Number %d, want 1", r1.Number)
	}
	checkStoredTime(t, "CreatedAt after SaveRevision", r1.CreatedAt, normalised(created))
	checkHead(t, s, set.ID, r1)

	r2 := newRevision(set.ID, r1.ID, "alice")
	r2.Submitted = true
	from := time.Now()
	n = chainLen(t, s)
	ev = saveEvent(r2, r1.ContentHash)
	must(t, s.SaveRevision(ctx(t), r2, ev), "SaveRevision r2")
	expectAppended(t, s, n, ev)
	checkRecentTime(t, "CreatedAt of a revision saved without one", r2.CreatedAt, from)
	r3 := newRevision(set.ID, r2.ID, "bob")
	must(t, s.SaveRevision(ctx(t), r3, saveEvent(r3, r2.ContentHash)), "SaveRevision r3")
	if r2.Number != 2 || r3.Number != 3 {
		t.Errorf("revisions numbered %d, %d; want 2, 3", r2.Number, r3.Number)
	}
	checkHead(t, s, set.ID, r3)
	// Another set's numbers start again at 1.
	o1 := newRevision(other.ID, "", "alice")
	must(t, s.SaveRevision(ctx(t), o1, saveEvent(o1, "")), "SaveRevision in another set")
	if o1.Number != 1 {
		t.Errorf("first revision of another set has Number %d", o1.Number)
	}

	// History: newest first, without content.
	revs, err = s.Revisions(ctx(t), set.ID)
	must(t, err, "Revisions")
	var want []*radmark.Revision
	for _, r := range []*radmark.Revision{r3, r2, r1} {
		c := *r
		c.Content = nil
		want = append(want, &c)
	}
	if diff := cmp.Diff(want, revs); diff != "" {
		t.Errorf("Revisions (-want +got):\n%s", diff)
	}
	for _, r := range []*radmark.Revision{r1, r2, r3, o1} {
		got, err := s.Revision(ctx(t), r.ID)
		must(t, err, "Revision")
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Revision %s (-saved +stored):\n%s", r.ID, diff)
		}
	}

	// A save based on an old head is a conflict naming the head, and
	// stores nothing.
	for _, parent := range []radmark.ID{r1.ID, r2.ID, ""} {
		n = chainLen(t, s)
		stale := newRevision(set.ID, parent, "carol")
		ev := saveEvent(stale, "")
		err := s.SaveRevision(ctx(t), stale, ev)
		wantCode(t, err, radmark.ECONFLICT, fmt.Sprintf("SaveRevision on parent %q", parent))
		var hc *radmark.HeadConflict
		if !errors.As(err, &hc) {
			t.Errorf("SaveRevision on parent %q: %v is no *radmark.HeadConflict", parent, err)
		} else if hc.Head != r3.ID || hc.Expected != parent {
			t.Errorf("SaveRevision on parent %q: conflict %+v, want head %s", parent, *hc, r3.ID)
		}
		expectNotWritten(t, s, n, ev)
		if stale.Number != 0 {
			t.Errorf("a refused revision was numbered %d", stale.Number)
		}
		_, err = s.Revision(ctx(t), stale.ID)
		wantCode(t, err, radmark.ENOTFOUND, "Revision of a refused save")
	}
	checkHead(t, s, set.ID, r3)
	if revs, _ := s.Revisions(ctx(t), set.ID); len(revs) != 3 {
		t.Errorf("%d revisions after refused saves, want 3", len(revs))
	}
}

// checkHead checks that set's head is r.
func checkHead(t testing.TB, s Stores, set radmark.ID, r *radmark.Revision) {
	t.Helper()
	got, err := s.Set(ctx(t), set)
	must(t, err, "Set")
	if got.Head != r.ID || got.HeadNumber != r.Number {
		t.Errorf("set %s: head %s (number %d), want %s (number %d)", set, got.Head, got.HeadNumber, r.ID, r.Number)
	}
	if !got.UpdatedAt.Equal(r.CreatedAt) {
		t.Errorf("set %s: UpdatedAt %v, want the head's CreatedAt %v", set, got.UpdatedAt, r.CreatedAt)
	}
}

// FullContent returns a revision content with every kind of item, answers
// to every kind of question and several labelmap layers.
func FullContent() *radmark.Content {
	conf := 0.875
	num := 412.25
	return &radmark.Content{
		SchemaVersion: 3,
		Items: []radmark.Item{
			{ID: "seg-1", Kind: radmark.KindSegmentation, Label: "liver", Source: radmark.Source{Type: "model", Name: "TotalSegmentator", Version: "2.4.0"},
				Confidence: &conf, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
			{ID: "seg-2", Kind: radmark.KindSegmentation, Label: "kidney-left", Source: radmark.Source{Type: "human"}, Author: "alice",
				Segment: &radmark.SegmentRef{Layer: 1, Value: 3}},
			{ID: "box", Kind: radmark.KindBox2D, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.6", Frame: 2}, Points: [][2]float64{{10.5, 20.5}, {30.25, 40.125}}},
			{ID: "box3d", Kind: radmark.KindBox3D, Label: "liver", Source: radmark.Source{Type: "human"},
				LPS: [][3]float64{{-100.5, -50.25, -300}, {100.125, 80, 12.5}}},
			{ID: "contour", Kind: radmark.KindContour, Label: "nodule", Source: radmark.Source{Type: "human"}, Closed: true,
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.7"}, Points: [][2]float64{{1, 1}, {5.5, 1}, {5.5, 7.25}, {1e-9, 6}}},
			{ID: "landmark", Kind: radmark.KindLandmark, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.7"}, LPS: [][3]float64{{0.1, 0.2, 0.3}}, Note: "ap — «x» 山"},
			{ID: "length", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"},
				LPS: [][3]float64{{1, 2, 3}, {4, 5, 6}}},
			{ID: "angle", Kind: radmark.KindAngle, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.8"}, Points: [][2]float64{{0, 0}, {1, 0}, {1, 1}}},
			{ID: "bidi", Kind: radmark.KindBidirectional, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.8"}, Points: [][2]float64{{0, 0}, {10, 0}, {5, -2}, {5, 2}}},
			{ID: "ellipse", Kind: radmark.KindEllipseROI, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.8"}, Points: [][2]float64{{2, 2}, {8, 6}}},
			{ID: "rect", Kind: radmark.KindRectangleROI, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.8"}, Points: [][2]float64{{2, 2}, {8, 6}}},
			{ID: "class", Kind: radmark.KindClassification, Label: "", Source: radmark.Source{Type: "human"}},
		},
		Answers: []radmark.Answer{
			{Question: "quality", SeriesUID: "1.2.3.4", Choices: []string{"good"}, Author: "alice"},
			{Question: "findings", Choices: []string{"cyst", "mass"}},
			{Question: "volume", Item: "seg-1", Number: &num},
			{Question: "note", Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3.4.5.8", Frame: 1}, Text: "motion artefact\n\"quoted\" \\ \u2028"},
		},
		Labelmaps: []radmark.Labelmap{
			{Layer: 0, SeriesUID: "1.2.3.4", Columns: 512, Rows: 512, Slices: 4, Encoding: "rle+zstd",
				Chunks: []string{"", Digest("slice1"), Digest("slice2"), ""}},
			{Layer: 1, SeriesUID: "1.2.3.4", Columns: 512, Rows: 512, Slices: 4, Encoding: "rle+zstd",
				Chunks: []string{"", "", "", Digest("slice3")}},
		},
	}
}

func testRevisionContent(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	set := createSet(t, s, p.ID, "1.2.3", "1.2.3.4", "alice")
	r := &radmark.Revision{ID: NewID("rev"), SetID: set.ID, Author: "alice", Message: "first pass «ok»", Submitted: true,
		Content: FullContent(), ContentHash: Digest("full")}
	must(t, s.SaveRevision(ctx(t), r, saveEvent(r, "")), "SaveRevision")
	got, err := s.Revision(ctx(t), r.ID)
	must(t, err, "Revision")
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("Revision (-saved +stored):\n%s", diff)
	}
	if diff := cmp.Diff(FullContent(), got.Content); diff != "" {
		t.Errorf("content (-saved +stored):\n%s", diff)
	}
	// An empty content is a content too.
	empty := &radmark.Revision{ID: NewID("rev"), SetID: set.ID, Parent: r.ID, Author: "alice", Content: &radmark.Content{},
		ContentHash: Digest("empty")}
	must(t, s.SaveRevision(ctx(t), empty, saveEvent(empty, r.ContentHash)), "SaveRevision of an empty content")
	got, err = s.Revision(ctx(t), empty.ID)
	must(t, err, "Revision")
	if diff := cmp.Diff(empty, got); diff != "" {
		t.Errorf("empty Revision (-saved +stored):\n%s", diff)
	}
}

func testRevisionErrors(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	set := createSet(t, s, p.ID, "1.2.3", "", "alice")
	other := createSet(t, s, p.ID, "1.2.4", "", "alice")
	r0 := newRevision(set.ID, "", "alice")
	must(t, s.SaveRevision(ctx(t), r0, saveEvent(r0, "")), "SaveRevision")
	r1 := newRevision(set.ID, r0.ID, "alice")
	must(t, s.SaveRevision(ctx(t), r1, saveEvent(r1, r0.ContentHash)), "SaveRevision")
	o1 := newRevision(other.ID, "", "alice")
	must(t, s.SaveRevision(ctx(t), o1, saveEvent(o1, "")), "SaveRevision")

	tests := []struct {
		name   string
		change func(r *radmark.Revision, ev **radmark.AuditEvent)
		code   string
	}{
		{"no revision", nil, radmark.EINVALID},
		{"no ID", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.ID = "" }, radmark.EINVALID},
		{"no set", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.SetID = "" }, radmark.EINVALID},
		{"no content", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.Content = nil }, radmark.EINVALID},
		{"no content hash", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.ContentHash = "" }, radmark.EINVALID},
		{"its own parent", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.Parent = r.ID }, radmark.EINVALID},
		{"message not UTF-8", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.Message = "\xff" }, radmark.EINVALID},
		{"time out of range", func(r *radmark.Revision, _ **radmark.AuditEvent) {
			r.CreatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
		}, radmark.EINVALID},
		{"no event", func(_ *radmark.Revision, ev **radmark.AuditEvent) { *ev = nil }, radmark.EINVALID},
		{"event without action", func(_ *radmark.Revision, ev **radmark.AuditEvent) { (*ev).Action = "" }, radmark.EINVALID},
		{"parent in another set", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.Parent = o1.ID }, radmark.EINVALID},
		{"parent that does not exist", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.Parent = "no-such-revision" }, radmark.EINVALID},
		{"missing set", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.SetID = "no-such-set" }, radmark.ENOTFOUND},
		{"revision ID taken in this set", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.ID = r0.ID }, radmark.ECONFLICT},
		{"revision ID taken in another set", func(r *radmark.Revision, _ **radmark.AuditEvent) { r.ID = o1.ID }, radmark.ECONFLICT},
		{"event ID taken", func(_ *radmark.Revision, ev **radmark.AuditEvent) {
			all, _ := s.AuditEvents(ctx(t), radmark.AuditFilter{Limit: 1})
			(*ev).ID = all[0].ID
		}, radmark.ECONFLICT},
	}
	n := chainLen(t, s)
	for _, tt := range tests {
		r := newRevision(set.ID, r1.ID, "bob")
		ev := saveEvent(r, r1.ContentHash)
		if tt.change != nil {
			tt.change(r, &ev)
		} else {
			r = nil
		}
		err := s.SaveRevision(ctx(t), r, ev)
		wantCode(t, err, tt.code, "SaveRevision: "+tt.name)
		if errors.As(err, new(*radmark.HeadConflict)) {
			t.Errorf("SaveRevision: %s: %v is a head conflict", tt.name, err)
		}
		expectNotWritten(t, s, n, ev)
	}
	checkHead(t, s, set.ID, r1)
	checkHead(t, s, other.ID, o1)
	revs, err := s.Revisions(ctx(t), set.ID)
	must(t, err, "Revisions")
	if len(revs) != 2 {
		t.Errorf("%d revisions after refused saves, want 2", len(revs))
	}
	got, err := s.Revision(ctx(t), r1.ID)
	must(t, err, "Revision")
	if diff := cmp.Diff(r1, got); diff != "" {
		t.Errorf("revision after refused saves (-saved +stored):\n%s", diff)
	}
	_, err = s.Revision(ctx(t), "no-such-revision")
	wantCode(t, err, radmark.ENOTFOUND, "Revision of a missing revision")
	_, err = s.Revisions(ctx(t), "no-such-set")
	wantCode(t, err, radmark.ENOTFOUND, "Revisions of a missing set")
}

// testEventRollsBackMutation checks the other half of "in one transaction":
// when the event cannot be appended (its ID is already in the chain), the
// mutation is not stored either.
func testEventRollsBackMutation(t *testing.T, open StoresOpener) {
	s := open(t)
	p := createProject(t, s, "P")
	set := createSet(t, s, p.ID, "1.2.3", "", "alice")
	r1 := newRevision(set.ID, "", "alice")
	must(t, s.SaveRevision(ctx(t), r1, saveEvent(r1, "")), "SaveRevision")
	first, err := s.AuditEvents(ctx(t), radmark.AuditFilter{Limit: 1})
	must(t, err, "AuditEvents")
	taken := func(ev *radmark.AuditEvent) *radmark.AuditEvent { ev.ID = first[0].ID; return ev }
	n := chainLen(t, s)

	q := &radmark.Project{ID: NewID("proj"), Name: "Q"}
	wantCode(t, s.CreateProject(ctx(t), q, taken(NewEvent("bob", "project.create", "project", q.ID))), radmark.ECONFLICT, "CreateProject with a taken event ID")
	_, err = s.Project(ctx(t), q.ID)
	wantCode(t, err, radmark.ENOTFOUND, "Project whose creation was refused")

	upd := &radmark.Project{ID: p.ID, Name: "Renamed"}
	wantCode(t, s.UpdateProject(ctx(t), upd, taken(NewEvent("bob", "project.update", "project", p.ID))), radmark.ECONFLICT, "UpdateProject with a taken event ID")
	if got, _ := s.Project(ctx(t), p.ID); got == nil || got.Name != "P" {
		t.Errorf("a refused update changed the project: %+v", got)
	}

	sc := schemaV1(p.ID)
	wantCode(t, s.PutSchema(ctx(t), sc, taken(NewEvent("bob", "schema.put", "project", p.ID))), radmark.ECONFLICT, "PutSchema with a taken event ID")
	checkSchemaVersion(t, s, p.ID, 0)
	_, err = s.Schema(ctx(t), p.ID, 1)
	wantCode(t, err, radmark.ENOTFOUND, "Schema whose put was refused")

	other := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: "1.2.4", Reader: "bob"}
	wantCode(t, s.CreateSet(ctx(t), other, taken(NewEvent("bob", "set.create", "annotation_set", other.ID))), radmark.ECONFLICT, "CreateSet with a taken event ID")
	_, err = s.Set(ctx(t), other.ID)
	wantCode(t, err, radmark.ENOTFOUND, "Set whose creation was refused")

	r2 := newRevision(set.ID, r1.ID, "bob")
	wantCode(t, s.SaveRevision(ctx(t), r2, taken(saveEvent(r2, r1.ContentHash))), radmark.ECONFLICT, "SaveRevision with a taken event ID")
	_, err = s.Revision(ctx(t), r2.ID)
	wantCode(t, err, radmark.ENOTFOUND, "Revision whose save was refused")
	checkHead(t, s, set.ID, r1)

	if got := chainLen(t, s); got != n {
		t.Errorf("refused mutations appended %d events", got-n)
	}
	// The same calls with fresh events go through.
	must(t, s.CreateProject(ctx(t), q, NewEvent("bob", "project.create", "project", q.ID)), "CreateProject")
	must(t, s.PutSchema(ctx(t), sc, NewEvent("bob", "schema.put", "project", p.ID)), "PutSchema")
	must(t, s.CreateSet(ctx(t), other, NewEvent("bob", "set.create", "annotation_set", other.ID)), "CreateSet")
	must(t, s.SaveRevision(ctx(t), r2, saveEvent(r2, r1.ContentHash)), "SaveRevision")
	CheckAuditChain(t, s, n+4)
}

// FillAnnotations stores a project with a schema, two annotation sets and a
// few revisions, with their events, in a store that may hold others.
func FillAnnotations(t testing.TB, s Stores) {
	t.Helper()
	p := createProject(t, s, "Fill")
	must(t, s.PutSchema(ctx(t), &radmark.LabelSchema{ProjectID: p.ID, Version: 1, Labels: schemaV1(p.ID).Labels, Hash: Digest("fill")},
		NewEvent("alice", "schema.put", "project", p.ID)), "PutSchema")
	for _, study := range []radmark.UID{"1.2.3", "1.2.4"} {
		set := createSet(t, s, p.ID, study, "", "alice")
		var head radmark.ID
		for range 3 {
			r := newRevision(set.ID, head, "alice")
			must(t, s.SaveRevision(ctx(t), r, saveEvent(r, "")), "SaveRevision")
			head = r.ID
		}
	}
}
