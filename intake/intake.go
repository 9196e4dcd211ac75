// Package intake brings instances into a project, whatever the door
// (DIMSE C-STORE to a project's AE title, STOW-RS to a project, a case
// upload): each is de-identified by the project's current profile before
// the archive sees it, so a project only ever holds de-identified copies.
// It fails closed: a project without a valid profile accepts nothing, an
// instance the profile cannot process is refused, never passed through,
// and an image that may carry burned-in text is held in the quarantine
// for review instead of reaching the project. The original is stored only
// when the site keeps an identifiable archive (KeepOriginals); otherwise
// it lives no longer than the caller's temporary copy.
//
// It also owns the review of the quarantine and the audited look-up of
// the sealed linkage, the operations an admin runs on what intake made.
package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/workflow"
)

// Archive is what intake needs of the archive; *archive.Service is one.
type Archive interface {
	Ingest(ctx context.Context, sources []archive.Source, opts archive.IngestOptions) ([]archive.Result, error)
}

// Cases attaches studies to a project; *workflow.Service is one.
type Cases interface {
	AddCases(ctx context.Context, op workflow.Op, project radmark.ID, req workflow.AddRequest) (*workflow.AddResult, error)
}

// Service de-identifies instances into projects. Archive, Deid, Store and
// Blobs are required.
type Service struct {
	Archive Archive
	Deid    *deid.Service
	// Store keeps profiles, linkage and the quarantine.
	Store deid.Store
	// Blobs holds the de-identified bytes of quarantined instances.
	Blobs radmark.BlobStore
	// Cases, if set, makes each study (or series) received a case of the
	// project; without it instances are stored but attached to nothing.
	Cases Cases
	// KeepOriginals stores each original in the archive as well: the
	// site's identifiable archive. Off, originals are not kept.
	KeepOriginals bool
	Logger        *slog.Logger
	Now           func() time.Time

	// attached remembers the cases already made, so a 300-slice series
	// sent one C-STORE at a time asks the workflow once, not 300 times.
	mu       sync.Mutex
	attached map[attachKey]time.Time
	// profiles remembers each project's current profile for profileTTL,
	// so a series sent one C-STORE at a time reads and validates it once,
	// not 300 times.
	profiles map[radmark.ID]cachedProfile
	// profileGen counts PutProfile calls: a read that a put overtook is
	// not cached.
	profileGen uint64
}

type cachedProfile struct {
	profile *deid.Profile
	read    time.Time
}

// profileTTL bounds how long a project's profile is used without reading
// it again. A new version put through this server applies at once
// (PutProfile forgets the old one); one put through another replica
// applies within profileTTL. A project never loses its profile (versions
// only accumulate), so the cache cannot let in what the store would
// refuse; a project without a profile is never cached.
const profileTTL = time.Second

type attachKey struct {
	project radmark.ID
	ref     workflow.CaseRef
}

// attachedTTL bounds how long a made case is trusted without asking the
// workflow again (a case removed meanwhile is then added again).
const attachedTTL = 10 * time.Minute

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Request says where instances go and who sends them.
type Request struct {
	Project radmark.ID
	Op      workflow.Op
	// Door names the way in for cases and the audit trail: "dimse",
	// "stow", "upload", or "quarantine" (released after review).
	Door string
	// BySeries makes each series a case instead of each study.
	BySeries bool
}

// Result is what happened to one source.
type Result struct {
	Name string
	// Instance is the de-identified instance as stored (UIDs remapped);
	// its Err says why a de-identified instance was refused by the
	// archive.
	Instance archive.Result
	// Quarantined gives the reason the instance is held for review
	// instead of reaching the project.
	Quarantined string
	// Err says why the source was refused (a *radmark.Error).
	Err error
}

// profileName is a profile's name and version, for messages.
func profileName(p *deid.Profile) string { return fmt.Sprintf("%s v%d", p.Name, p.Version) }

// Profile returns the project's current profile, or an error that says
// the project accepts nothing: intake's first check, made before a byte
// is received where the door allows it.
func (s *Service) Profile(ctx context.Context, project radmark.ID) (*deid.Profile, error) {
	if s.Deid == nil || s.Deid.Profiles == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "de-identification is not configured on this server: project %s accepts no images", project)
	}
	// The wall clock, not s.now: a test's fixed clock must not make the
	// cache last forever.
	now := time.Now()
	s.mu.Lock()
	c, ok := s.profiles[project]
	gen := s.profileGen
	s.mu.Unlock()
	if ok && now.Sub(c.read) < profileTTL {
		return c.profile, nil
	}
	// No cancellation watcher for a read this short (the SQLite driver
	// starts a goroutine per statement for one).
	p, err := s.Deid.Profiles.CurrentDeidProfile(context.WithoutCancel(ctx), string(project))
	if errors.Is(err, deid.ErrNoProfile) || (err == nil && p == nil) {
		return nil, radmark.Errorf(radmark.EFORBIDDEN, "project %s has no de-identification profile, so it accepts no images: put one first (PUT /api/v1/projects/%s/deid/profiles)", project, project)
	}
	if err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the de-identification profile cannot be read")
	}
	if err := p.Validate(); err != nil {
		return nil, radmark.Errorf(radmark.EFORBIDDEN, "project %s's de-identification profile %s is not usable, so it accepts no images: %v", project, profileName(p), err)
	}
	s.mu.Lock()
	if s.profiles == nil || len(s.profiles) > 10000 {
		s.profiles = map[radmark.ID]cachedProfile{}
	}
	if gen == s.profileGen {
		s.profiles[project] = cachedProfile{profile: p, read: now}
	}
	s.mu.Unlock()
	return p, nil
}

// forgetProfile drops the cached profile of project.
func (s *Service) forgetProfile(project radmark.ID) {
	s.mu.Lock()
	delete(s.profiles, project)
	s.profileGen++
	s.mu.Unlock()
}

// Ingest de-identifies sources into req.Project and makes their studies
// (or series) cases: those made now are Added, those that were cases
// already Skipped. Each source succeeds or fails on its own; the error is
// for the request as a whole (no profile, the store unavailable), and
// then nothing was stored.
func (s *Service) Ingest(ctx context.Context, req Request, sources []archive.Source) ([]Result, *workflow.AddResult, error) {
	cases := &workflow.AddResult{Added: []*radmark.Case{}, Skipped: []workflow.CaseRef{}}
	// The profile is read once per request and applies to all of it.
	profile, err := s.Profile(ctx, req.Project)
	if err != nil {
		return nil, cases, err
	}
	results := make([]Result, len(sources))
	// The encoded copies are reused once stored: the archive and the
	// quarantine read their sources only while called.
	var encoded []*bytes.Buffer
	defer func() {
		for _, b := range encoded {
			putEncodeBuffer(b)
		}
	}()
	var deidentified []archive.Source
	var at []int // positions in results of deidentified
	var originals []archive.Source
	for i, src := range sources {
		r := &results[i]
		r.Name = src.Name
		buf := getEncodeBuffer()
		encoded = append(encoded, buf)
		out, quarantine, err := s.deidentify(req, profile, src, buf)
		if err != nil {
			r.Err = err
			continue
		}
		if s.KeepOriginals {
			originals = append(originals, src)
		}
		if quarantine != "" {
			r.Quarantined = quarantine
			r.Instance, r.Err = s.quarantine(ctx, req, out, quarantine)
			continue
		}
		deidentified = append(deidentified, out)
		at = append(at, i)
	}
	if len(originals) > 0 {
		if err := s.keepOriginals(ctx, originals); err != nil {
			// The identifiable archive is the site's promise: an instance
			// whose original is lost is refused as a whole.
			for i := range results {
				if results[i].Err == nil {
					results[i].Err = err
				}
			}
			return results, cases, nil
		}
	}
	if len(deidentified) > 0 {
		stored, err := s.Archive.Ingest(ctx, deidentified, archive.IngestOptions{})
		for j, res := range stored {
			r := &results[at[j]]
			r.Instance = res
			r.Err = res.Err
		}
		if err != nil {
			return results, cases, err
		}
	}
	if err := s.attach(ctx, req, results, cases); err != nil {
		for i := range results {
			if results[i].Err == nil && results[i].Quarantined == "" {
				results[i].Err = err
			}
		}
	}
	return results, cases, nil
}

// encodeBuffers recycles the memory of encoded de-identified copies, half
// a megabyte for a CT slice: new ones for each instance received made
// the garbage collector a large part of intake's work.
var encodeBuffers sync.Pool

// maxPooledEncode bounds the buffers kept for reuse, so one huge instance
// does not pin its memory.
const maxPooledEncode = 16 << 20

func getEncodeBuffer() *bytes.Buffer {
	if b, ok := encodeBuffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func putEncodeBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledEncode {
		b.Reset()
		encodeBuffers.Put(b)
	}
}

// deidentify parses src, de-identifies it with the project's profile
// and encodes the result into buf, which carries its sealed linkage (if
// kept) for the archive or the quarantine to record with it, never apart.
func (s *Service) deidentify(req Request, profile *deid.Profile, src archive.Source, buf *bytes.Buffer) (archive.Source, string, error) {
	var f *dicom.File
	var err error
	if src.Bytes != nil && int64(len(src.Bytes)) == src.Size {
		// Pixel data, half of a CT slice, is written out unchanged:
		// sharing it saves a copy. Nothing here changes values in place.
		f, err = dicom.ParseBytes(src.Bytes, dicom.ParseOptions{ShareBulkData: true})
	} else {
		f, err = dicom.Parse(io.NewSectionReader(src.Data, 0, src.Size), src.Size, dicom.ParseOptions{})
	}
	if err != nil {
		return archive.Source{}, "", radmark.WrapError(radmark.EINVALID, err, "cannot be parsed, so it cannot be de-identified: "+err.Error())
	}
	res, err := s.Deid.DeidentifyWith(profile, string(req.Project), f.Dataset)
	switch {
	case errors.Is(err, deid.ErrNoProfile):
		return archive.Source{}, "", radmark.WrapError(radmark.EFORBIDDEN, err, err.Error())
	case errors.Is(err, deid.ErrUnprocessable):
		return archive.Source{}, "", radmark.WrapError(radmark.EINVALID, err, "refused, not passed through: "+err.Error())
	case err != nil:
		return archive.Source{}, "", radmark.WrapError(radmark.EUNAVAILABLE, err, "de-identification failed: "+err.Error())
	}
	// The copy is about as long as the original: growing to it at once
	// saves copying it over while it grows.
	buf.Grow(int(src.Size) + 4<<10)
	if err := deid.EncodeTo(buf, f, res.Dataset); err != nil {
		return archive.Source{}, "", radmark.WrapError(radmark.EINVALID, err, "the de-identified instance cannot be written: "+err.Error())
	}
	b := buf.Bytes()
	// No digest here: the archive hashes the copy while the disk makes it
	// durable (archive.Source.SHA256).
	out := archive.Source{Name: src.Name, Data: bytes.NewReader(b), Bytes: b, Size: int64(len(b)), Linkage: res.Linkage}
	return out, res.Quarantine, nil
}

// quarantineKey addresses a quarantined instance's de-identified bytes.
func quarantineKey(sum string) string { return "quarantine/" + sum[:2] + "/" + sum }

// quarantine holds a de-identified instance for review: its bytes in the
// blob store, its record (with an audit event) in the store. A re-sent
// instance already held is not an error.
func (s *Service) quarantine(ctx context.Context, req Request, src archive.Source, reason string) (archive.Result, error) {
	f, err := dicom.Parse(io.NewSectionReader(src.Data, 0, src.Size), src.Size, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		return archive.Result{}, radmark.WrapError(radmark.EINTERNAL, err, "re-read the de-identified instance")
	}
	res := archive.Result{Name: src.Name, SOPClassUID: radmark.UID(f.Dataset.String(dicom.TagSOPClassUID)),
		SOPInstanceUID: radmark.UID(f.Dataset.String(dicom.TagSOPInstanceUID)),
		StudyUID:       radmark.UID(f.Dataset.String(dicom.TagStudyInstanceUID)),
		SeriesUID:      radmark.UID(f.Dataset.String(dicom.TagSeriesInstanceUID)), TransferSyntax: f.TransferSyntax.UID}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(src.Data, 0, src.Size)); err != nil {
		return res, radmark.WrapError(radmark.EINTERNAL, err, "re-read the de-identified instance")
	}
	key := quarantineKey(hex.EncodeToString(h.Sum(nil)))
	if _, err := s.Blobs.Put(ctx, key, io.NewSectionReader(src.Data, 0, src.Size), src.Size); err != nil {
		return res, radmark.WrapError(radmark.EUNAVAILABLE, err, "the blob store is unavailable")
	}
	item := &deid.QuarantineItem{ProjectID: req.Project, SOPInstanceUID: string(res.SOPInstanceUID), Reason: reason, BlobKey: key,
		CreatedAt: s.now(), Linkage: src.Linkage}
	ev := s.event(req.Op, "deid.quarantine.put", "instance", string(res.SOPInstanceUID),
		fmt.Sprintf("project %s via %s: %s", req.Project, req.Door, reason))
	if err := s.Store.PutQuarantine(ctx, item, ev); err != nil {
		if radmark.ErrorCode(err) == radmark.ECONFLICT {
			return res, nil // the same instance again: held already
		}
		// Only this item could hold these bytes (see dropHeld).
		if derr := s.Blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.logger().Warn("intake: delete unrecorded quarantine bytes", "key", key, "err", derr)
		}
		return res, err
	}
	return res, nil
}

// keepOriginals stores originals in the identifiable archive.
func (s *Service) keepOriginals(ctx context.Context, originals []archive.Source) error {
	res, err := s.Archive.Ingest(ctx, originals, archive.IngestOptions{})
	if err != nil {
		return radmark.WrapError(radmark.EUNAVAILABLE, err, "the identifiable archive is unavailable")
	}
	for _, r := range res {
		if r.Err != nil && radmark.ErrorCode(r.Err) != radmark.ECONFLICT {
			return radmark.WrapError(radmark.ErrorCode(r.Err), r.Err, "the original cannot be kept in the identifiable archive: "+radmark.ErrorMessage(r.Err))
		}
	}
	return nil
}

// attach makes the stored instances' studies (or series) cases of the
// project, saying in cases which were made and which were there.
func (s *Service) attach(ctx context.Context, req Request, results []Result, cases *workflow.AddResult) error {
	if s.Cases == nil {
		return nil
	}
	var refs []workflow.CaseRef
	seen := map[workflow.CaseRef]bool{}
	now := s.now()
	s.mu.Lock()
	for _, r := range results {
		if r.Err != nil || r.Quarantined != "" || r.Instance.StudyUID == "" {
			continue
		}
		ref := workflow.CaseRef{StudyUID: r.Instance.StudyUID}
		if req.BySeries {
			ref.SeriesUID = r.Instance.SeriesUID
		}
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if t, ok := s.attached[attachKey{req.Project, ref}]; ok && now.Sub(t) < attachedTTL {
			cases.Skipped = append(cases.Skipped, ref)
			continue
		}
		refs = append(refs, ref)
	}
	s.mu.Unlock()
	if len(refs) == 0 {
		return nil
	}
	added, err := s.Cases.AddCases(ctx, req.Op, req.Project, workflow.AddRequest{Studies: refs, Source: req.Door})
	if err != nil {
		return radmark.WrapError(radmark.ErrorCode(err), err, "stored de-identified, but not made a case of the project: "+radmark.ErrorMessage(err))
	}
	cases.Added = append(cases.Added, added.Added...)
	cases.Skipped = append(cases.Skipped, added.Skipped...)
	s.mu.Lock()
	if s.attached == nil || len(s.attached) > 100000 {
		s.attached = map[attachKey]time.Time{}
	}
	for _, ref := range refs {
		s.attached[attachKey{req.Project, ref}] = now
	}
	s.mu.Unlock()
	return nil
}

func (s *Service) event(op workflow.Op, action, objectType, objectID, detail string) *radmark.AuditEvent {
	return &radmark.AuditEvent{ID: annotation.NewID(), Time: s.now(), Actor: op.Actor.Name(), Action: action,
		ObjectType: objectType, ObjectID: objectID, RequestID: op.RequestID, Detail: detail}
}

// StoreToProject implements dimse.ProjectStore: one C-STORE data set into
// a project, the calling AE title as the actor of its audit events.
func (s *Service) StoreToProject(ctx context.Context, project, callingAE string, src archive.Source) (string, error) {
	op := workflow.Op{Actor: &radmark.Actor{User: &radmark.User{Name: "dicom:" + callingAE}, Via: "dimse"}}
	res, _, err := s.Ingest(ctx, Request{Project: radmark.ID(project), Op: op, Door: "dimse"}, []archive.Source{src})
	if err != nil {
		return "", err
	}
	return res[0].Quarantined, res[0].Err
}
