package intake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/workflow"
)

// env is intake over a real archive, workflow and store on one engine,
// with one project that has a workflow but (until put) no profile.
type env struct {
	t       *testing.T
	store   testdb.Store
	deids   deid.Store
	arch    *archive.Service
	blobs   radmark.BlobStore
	svc     *intake.Service
	project radmark.ID
	op      workflow.Op
}

var (
	siteSecret = bytes.Repeat([]byte("s"), 32)
	linkKey    = bytes.Repeat([]byte("k"), 32)
)

func newEnv(t *testing.T, engine testdb.Engine) *env {
	t.Helper()
	store := engine.Open(t)
	ds, ok := store.(deid.Store)
	if !ok {
		t.Fatalf("%T is not a deid store", store)
	}
	wfs, ok := store.(workflow.Store)
	if !ok {
		t.Fatalf("%T is not a workflow store", store)
	}
	a, blobs := testdb.Archive(t, store)
	ann := &annotation.Service{Store: store, Blobs: blobs, Images: &annotation.ArchiveImages{Source: a}}
	wf := &workflow.Service{Store: wfs, Annotations: ann, Archive: store, Roster: &workflow.MemoryRoster{}}
	p, err := ann.CreateProject(t.Context(), annotation.Op{Actor: "mgr"}, "De-identified study", "")
	if err != nil {
		t.Fatal(err)
	}
	op := workflow.Op{Actor: &radmark.Actor{User: &radmark.User{ID: "user-mgr", Name: "mgr"}, Via: "session"}, RequestID: "req-1"}
	if _, err := wf.PutConfig(t.Context(), op, &radmark.WorkflowConfig{ProjectID: p.ID, Readers: 1, ReaderRoles: []radmark.Role{radmark.RoleAnnotator},
		Assignment: radmark.AssignPull}, 0); err != nil {
		t.Fatal(err)
	}
	sealer, err := deid.NewSealer(linkKey)
	if err != nil {
		t.Fatal(err)
	}
	svc := &intake.Service{Archive: a, Store: ds, Blobs: blobs, Cases: wf,
		Deid: &deid.Service{Profiles: ds, Sealer: sealer, SiteSecret: siteSecret}}
	return &env{t: t, store: store, deids: ds, arch: a, blobs: blobs, svc: svc, project: p.ID, op: op}
}

func (e *env) putProfile() {
	e.t.Helper()
	p := &deid.Profile{Name: "research", Options: deid.Options{RetainLongitudinalModifiedDates: true, CleanDescriptors: true}}
	if err := e.svc.PutProfile(e.t.Context(), e.op, e.project, p); err != nil {
		e.t.Fatal(err)
	}
}

type original struct {
	path string
	b    []byte
	ds   *dicom.Dataset
}

func load(t *testing.T, paths ...string) []original {
	t.Helper()
	var out []original
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.ParseBytes(b, dicom.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, original{p, b, f.Dataset})
	}
	return out
}

func sources(os []original) []archive.Source {
	var out []archive.Source
	for _, o := range os {
		out = append(out, archive.Source{Name: filepath.Base(o.path), Data: bytes.NewReader(o.b), Size: int64(len(o.b))})
	}
	return out
}

// inMemory is sources with their bytes given as a slice too, as DIMSE
// hands them over.
func inMemory(os []original) []archive.Source {
	out := sources(os)
	for i := range out {
		out[i].Bytes = os[i].b
	}
	return out
}

// stored reads an instance back from the archive.
func (e *env) stored(uid radmark.UID) *dicom.Dataset {
	e.t.Helper()
	in, err := e.store.Instance(e.t.Context(), uid)
	if err != nil {
		e.t.Fatalf("instance %s: %v", uid, err)
	}
	rc, err := e.arch.Open(e.t.Context(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return f.Dataset
}

func liverFiles(t *testing.T) []string {
	dir := filepath.Join(testenv.SharedData(t), "annotations", "dcmqi_liver-seg_ct-3slice")
	files, _ := filepath.Glob(filepath.Join(dir, "images", "*.dcm"))
	if len(files) != 3 {
		t.Fatalf("want the 3 liver CT slices in %s, found %d", dir, len(files))
	}
	return append(files, filepath.Join(dir, "liver.seg.dcm"))
}

func TestIngest(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			e := newEnv(t, engine)
			ctx := t.Context()
			origs := load(t, liverFiles(t)...)

			// No profile: nothing is accepted, nothing stored.
			if _, _, err := e.svc.Ingest(ctx, intake.Request{Project: e.project, Op: e.op, Door: "stow"}, sources(origs)); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
				t.Fatalf("ingest without a profile: %v, want forbidden", err)
			}
			for _, o := range origs {
				if _, err := e.store.Instance(ctx, radmark.UID(o.ds.String(dicom.TagSOPInstanceUID))); radmark.ErrorCode(err) != radmark.ENOTFOUND {
					t.Fatalf("original %s stored without a profile: %v", o.path, err)
				}
			}

			e.putProfile()
			res, _, err := e.svc.Ingest(ctx, intake.Request{Project: e.project, Op: e.op, Door: "stow"}, sources(origs))
			if err != nil {
				t.Fatal(err)
			}
			profile, err := e.svc.Profile(ctx, e.project)
			if err != nil {
				t.Fatal(err)
			}
			d, err := deid.New(*profile, deid.ProjectKey(siteSecret, string(e.project)))
			if err != nil {
				t.Fatal(err)
			}
			var ctUIDs []string
			for i, r := range res {
				if r.Err != nil || r.Quarantined != "" {
					t.Fatalf("%s: %v %q", r.Name, r.Err, r.Quarantined)
				}
				orig := origs[i].ds
				uid := r.Instance.SOPInstanceUID
				if want := d.UID(orig.String(dicom.TagSOPInstanceUID)); string(uid) != want || !bytes.HasPrefix([]byte(uid), []byte("2.25.")) {
					t.Fatalf("%s stored as %s, want the remapped %s", r.Name, uid, want)
				}
				got := e.stored(uid)
				if fs := d.Scan(orig, got); len(fs) > 0 {
					t.Errorf("%s: PHI scanner: %v", r.Name, fs)
				}
				if _, err := e.store.Instance(ctx, radmark.UID(orig.String(dicom.TagSOPInstanceUID))); radmark.ErrorCode(err) != radmark.ENOTFOUND {
					t.Errorf("original %s is in the archive without an identifiable archive: %v", r.Name, err)
				}
				if i < 3 {
					ctUIDs = append(ctUIDs, string(uid))
				} else {
					refs := got.StringsDeep(dicom.TagReferencedSOPInstanceUID)
					if len(refs) == 0 {
						t.Fatal("the SEG references nothing")
					}
					for _, ref := range refs {
						if !slices.Contains(ctUIDs, ref) {
							t.Errorf("the SEG references %s, not one of the stored CT slices %v", ref, ctUIDs)
						}
					}
				}
				if r.Instance.StudyUID != res[0].Instance.StudyUID {
					t.Errorf("%s is in study %s, the CT in %s", r.Name, r.Instance.StudyUID, res[0].Instance.StudyUID)
				}
			}
			cases, err := e.store.(workflow.Store).Cases(ctx, radmark.CaseFilter{ProjectID: e.project})
			if err != nil || len(cases) != 1 || cases[0].StudyUID != res[0].Instance.StudyUID {
				t.Fatalf("cases %v %v, want the de-identified study %s", cases, err, res[0].Instance.StudyUID)
			}

			// The same input again: the same UIDs, duplicates (the very same
			// bytes), no new case; also when held in memory, which is
			// parsed sharing its pixel data.
			for _, srcs := range [][]archive.Source{sources(origs), inMemory(origs)} {
				again, _, err := e.svc.Ingest(ctx, intake.Request{Project: e.project, Op: e.op, Door: "stow"}, srcs)
				if err != nil {
					t.Fatal(err)
				}
				for i := range again {
					if again[i].Err != nil || again[i].Instance.SOPInstanceUID != res[i].Instance.SOPInstanceUID || again[i].Instance.Status != radmark.PutDuplicate {
						t.Errorf("re-send of %s: %+v %v, want a duplicate of %s", again[i].Name, again[i].Instance, again[i].Err, res[i].Instance.SOPInstanceUID)
					}
				}
			}

			// Linkage: an admin look-up opens the sealed record, audited.
			links, err := e.svc.Linkage(ctx, e.op, e.project, string(res[0].Instance.SOPInstanceUID))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(links, func(l deid.Link) bool {
				return l.Kind == "patient_id" && l.Original == origs[0].ds.String(dicom.TagPatientID)
			}) {
				t.Errorf("linkage %v lacks the original PatientID", links)
			}
			evs, err := e.store.AuditEvents(ctx, radmark.AuditFilter{Action: "deid.linkage.read"})
			if err != nil || len(evs) != 1 || evs[0].Actor != "mgr" {
				t.Errorf("linkage look-up audit events %v %v, want one by mgr", evs, err)
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			e := newEnv(t, engine)
			ctx := t.Context()
			e.putProfile()
			sc := load(t, filepath.Join(testenv.SharedData(t), "multiframe", "SC_rgb_2frame.dcm"))
			garbage := archive.Source{Name: "garbage", Data: bytes.NewReader([]byte("not DICOM at all")), Size: 16}
			req := intake.Request{Project: e.project, Op: e.op, Door: "dimse"}
			res, _, err := e.svc.Ingest(ctx, req, append(sources(sc), garbage))
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Err != nil || res[0].Quarantined == "" {
				t.Fatalf("secondary capture: %v %q, want quarantined", res[0].Err, res[0].Quarantined)
			}
			if radmark.ErrorCode(res[1].Err) != radmark.EINVALID {
				t.Fatalf("garbage: %v, want refused as invalid", res[1].Err)
			}
			uid := res[0].Instance.SOPInstanceUID
			if _, err := e.store.Instance(ctx, uid); radmark.ErrorCode(err) != radmark.ENOTFOUND {
				t.Fatalf("a quarantined instance reached the archive: %v", err)
			}
			items, err := e.deids.Quarantine(ctx, e.project)
			if err != nil || len(items) != 1 || items[0].SOPInstanceUID != string(uid) {
				t.Fatalf("quarantine %v %v, want %s", items, err, uid)
			}
			// Sent again: held already, not an error.
			if again, _, err := e.svc.Ingest(ctx, req, sources(sc)); err != nil || again[0].Err != nil || again[0].Quarantined == "" {
				t.Fatalf("re-send of a quarantined instance: %v %+v", err, again)
			}
			if _, err := e.svc.Release(ctx, e.op, e.project, "2.25.1"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
				t.Fatalf("release of an unknown instance: %v", err)
			}
			rel, err := e.svc.Release(ctx, e.op, e.project, string(uid))
			if err != nil || rel.Instance.SOPInstanceUID != uid {
				t.Fatalf("release: %+v %v", rel, err)
			}
			if fs := mustDeid(t, e).Scan(sc[0].ds, e.stored(uid)); len(fs) > 0 {
				t.Errorf("released instance: PHI scanner: %v", fs)
			}
			if _, _, err := e.blobs.Get(ctx, items[0].BlobKey); radmark.ErrorCode(err) != radmark.ENOTFOUND {
				t.Errorf("held bytes left after release: %v", err)
			}
			if items, _ := e.deids.Quarantine(ctx, e.project); len(items) != 0 {
				t.Errorf("quarantine after release: %v", items)
			}
			// Sent once more, held again; rejected this time.
			if _, _, err := e.svc.Ingest(ctx, req, sources(sc)); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Reject(ctx, e.op, e.project, string(uid)); err != nil {
				t.Fatal(err)
			}
			// The copy released earlier is stored: its linkage stays.
			if _, err := e.svc.Linkage(ctx, e.op, e.project, string(uid)); err != nil {
				t.Errorf("rejecting a re-sent copy dropped the stored instance's linkage: %v", err)
			}
			for _, action := range []string{"deid.quarantine.put", "deid.quarantine.release", "deid.quarantine.reject"} {
				if evs, err := e.store.AuditEvents(ctx, radmark.AuditFilter{Action: action}); err != nil || len(evs) == 0 {
					t.Errorf("no %s audit event: %v", action, err)
				}
			}
		})
	}
}

func mustDeid(t *testing.T, e *env) *deid.Deidentifier {
	t.Helper()
	p, err := e.svc.Profile(t.Context(), e.project)
	if err != nil {
		t.Fatal(err)
	}
	d, err := deid.New(*p, deid.ProjectKey(siteSecret, string(e.project)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestKeepOriginals: with the identifiable archive on, the original is
// stored too, and the project still gets only the de-identified copy.
func TestKeepOriginals(t *testing.T) {
	e := newEnv(t, testdb.Engines[0])
	e.putProfile()
	e.svc.KeepOriginals = true
	origs := load(t, liverFiles(t)[0])
	sent := bytes.Clone(origs[0].b)
	res, _, err := e.svc.Ingest(context.Background(), intake.Request{Project: e.project, Op: e.op, Door: "upload"}, inMemory(origs))
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	in, err := e.store.Instance(t.Context(), radmark.UID(origs[0].ds.String(dicom.TagSOPInstanceUID)))
	if err != nil {
		t.Fatalf("original not kept: %v", err)
	}
	// De-identifying shares the original's pixel data: the original
	// must still be stored as sent.
	if h := sha256.Sum256(sent); in.SHA256 != hex.EncodeToString(h[:]) || !bytes.Equal(origs[0].b, sent) {
		t.Errorf("the original kept is not the bytes sent")
	}
	cases, _ := e.store.(workflow.Store).Cases(t.Context(), radmark.CaseFilter{ProjectID: e.project})
	if len(cases) != 1 || cases[0].StudyUID != res[0].Instance.StudyUID {
		t.Errorf("cases %v, want only the de-identified study %s", cases, res[0].Instance.StudyUID)
	}
}

// TestLinkageOnlyWithInstance: the sealed linkage commits with the
// de-identified instance, so an instance the archive refuses leaves no
// linkage behind. Here the archive holds other bytes under the UID the
// copy gets, so the copy is a conflict.
func TestLinkageOnlyWithInstance(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			e := newEnv(t, engine)
			e.putProfile()
			ctx := t.Context()
			origs := load(t, liverFiles(t)[:2]...)
			sop := mustDeid(t, e).UID(origs[0].ds.String(dicom.TagSOPInstanceUID))

			f, err := dicom.ParseBytes(origs[1].b, dicom.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			f.Dataset.SetStringVR(dicom.TagSOPInstanceUID, dicom.UI, sop)
			squatter, err := deid.Encode(f, f.Dataset)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := e.arch.Ingest(ctx, []archive.Source{{Name: "squatter", Data: bytes.NewReader(squatter), Size: int64(len(squatter))}}, archive.IngestOptions{})
			if err != nil || stored[0].Err != nil {
				t.Fatal(err, stored[0].Err)
			}

			res, _, err := e.svc.Ingest(ctx, intake.Request{Project: e.project, Op: e.op, Door: "stow"}, sources(origs[:1]))
			if err != nil {
				t.Fatal(err)
			}
			if radmark.ErrorCode(res[0].Err) != radmark.ECONFLICT || string(res[0].Instance.SOPInstanceUID) != sop {
				t.Fatalf("result %+v (%v), want a conflict on %s", res[0].Instance, res[0].Err, sop)
			}
			if _, err := e.svc.Linkage(ctx, e.op, e.project, sop); radmark.ErrorCode(err) != radmark.ENOTFOUND {
				t.Errorf("linkage of a refused instance: %v, want none (ENOTFOUND)", err)
			}
			// The next instance, stored, has its linkage.
			res, _, err = e.svc.Ingest(ctx, intake.Request{Project: e.project, Op: e.op, Door: "stow"}, sources(origs[1:]))
			if err != nil || res[0].Err != nil {
				t.Fatal(err, res[0].Err)
			}
			if _, err := e.svc.Linkage(ctx, e.op, e.project, string(res[0].Instance.SOPInstanceUID)); err != nil {
				t.Errorf("linkage of a stored instance: %v", err)
			}
		})
	}
}

// countingProfiles counts reads of the current profile.
type countingProfiles struct {
	deid.ProfileSource
	reads atomic.Int32
}

func (c *countingProfiles) CurrentDeidProfile(ctx context.Context, project string) (*deid.Profile, error) {
	c.reads.Add(1)
	return c.ProfileSource.CurrentDeidProfile(ctx, project)
}

// TestProfileCache: a project's profile is read once for a run of
// instances; a version put through intake applies at once, one put
// elsewhere (another replica) within a second; a project without a
// profile is asked again every time.
func TestProfileCache(t *testing.T) {
	e := newEnv(t, testdb.Engines[0])
	ctx := t.Context()
	counting := &countingProfiles{ProfileSource: e.svc.Deid.Profiles}
	e.svc.Deid.Profiles = counting
	version := func() int {
		t.Helper()
		p, err := e.svc.Profile(ctx, e.project)
		if err != nil {
			t.Fatal(err)
		}
		return p.Version
	}
	for range 2 {
		if _, err := e.svc.Profile(ctx, e.project); radmark.ErrorCode(err) != radmark.EFORBIDDEN {
			t.Fatalf("Profile without one: %v; want forbidden", err)
		}
	}
	e.putProfile()
	if v := version(); v != 1 {
		t.Fatalf("version right after the first put: %d", v)
	}
	before := counting.reads.Load()
	for range 50 {
		version()
	}
	if n := counting.reads.Load() - before; n > 1 {
		t.Errorf("50 look-ups read the store %d times; want the cache used", n)
	}
	e.putProfile()
	if v := version(); v != 2 {
		t.Errorf("version right after a put through intake: %d; want 2", v)
	}
	// Another replica's put: the store has it, this cache not yet.
	p := &deid.Profile{Name: "elsewhere", Version: 3, CreatedBy: "mgr", CreatedAt: time.Now()}
	if err := e.deids.PutDeidProfile(ctx, e.project, p, &radmark.AuditEvent{ID: "ev-elsewhere", Time: time.Now(), Actor: "mgr",
		Action: "deid.profile.put", ObjectType: "project", ObjectID: string(e.project)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for version() != 3 {
		if time.Now().After(deadline) {
			t.Fatal("a profile put elsewhere still not used after 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
