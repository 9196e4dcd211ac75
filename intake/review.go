package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/workflow"
)

// PutProfile stores the next version of a project's profile, made by
// op's actor. p.Version is set to the current version + 1; a concurrent
// put of the same version fails with ECONFLICT.
func (s *Service) PutProfile(ctx context.Context, op workflow.Op, project radmark.ID, p *deid.Profile) error {
	if p == nil {
		return radmark.Errorf(radmark.EINVALID, "no profile given")
	}
	versions, err := s.Store.DeidProfiles(ctx, project)
	if err != nil {
		return err
	}
	p.Version = len(versions) + 1
	if len(versions) > 0 {
		p.Version = versions[len(versions)-1].Version + 1
	}
	p.CreatedBy = op.Actor.Name()
	p.CreatedAt = s.now()
	if err := p.Validate(); err != nil {
		return radmark.Errorf(radmark.EINVALID, "%v", err)
	}
	ev := s.event(op, "deid.profile.put", "project", string(project), fmt.Sprintf("version %d %q: %s", p.Version, p.Name, p.Method()))
	err = s.Store.PutDeidProfile(ctx, project, p, ev)
	s.forgetProfile(project)
	return err
}

// quarantined finds one quarantined instance of a project.
func (s *Service) quarantined(ctx context.Context, project radmark.ID, sop string) (*deid.QuarantineItem, error) {
	items, err := s.Store.Quarantine(ctx, project)
	if err != nil {
		return nil, err
	}
	for _, q := range items {
		if q.SOPInstanceUID == sop {
			return q, nil
		}
	}
	return nil, radmark.Errorf(radmark.ENOTFOUND, "%s is not in the quarantine of project %s", sop, project)
}

// Release lets a quarantined instance into the project after a reviewer
// found no burned-in identifying text: it is stored in the archive and
// its study made a case, then its quarantine record goes (with an audit
// event naming the reviewer) and its held bytes are deleted.
func (s *Service) Release(ctx context.Context, op workflow.Op, project radmark.ID, sop string) (*Result, error) {
	q, err := s.quarantined(ctx, project, sop)
	if err != nil {
		return nil, err
	}
	rc, err := s.Held(ctx, project, sop)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the quarantined instance's bytes cannot be read")
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); !strings.HasSuffix(q.BlobKey, got) {
		return nil, radmark.Errorf(radmark.EINTERNAL, "quarantined bytes of %s do not match their digest", sop)
	}
	src := archive.Source{Name: "quarantined " + sop, Data: bytes.NewReader(b), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	stored, err := s.Archive.Ingest(ctx, []archive.Source{src}, archive.IngestOptions{})
	if err != nil {
		return nil, err
	}
	res := &Result{Name: src.Name, Instance: stored[0], Err: stored[0].Err}
	if res.Err != nil {
		return nil, res.Err
	}
	req := Request{Project: project, Op: op, Door: "quarantine"}
	if err := s.attach(ctx, req, []Result{*res}, &workflow.AddResult{}); err != nil {
		return nil, err
	}
	ev := s.event(op, "deid.quarantine.release", "instance", sop, fmt.Sprintf("project %s: reviewed (%s) and let in", project, q.Reason))
	if err := s.Store.ReleaseQuarantine(ctx, project, sop, ev); err != nil {
		return nil, err
	}
	s.dropHeld(ctx, q)
	return res, nil
}

// Reject discards a quarantined instance: its record and its linkage
// record go (audited), and its held bytes are deleted.
func (s *Service) Reject(ctx context.Context, op workflow.Op, project radmark.ID, sop string) error {
	q, err := s.quarantined(ctx, project, sop)
	if err != nil {
		return err
	}
	ev := s.event(op, "deid.quarantine.reject", "instance", sop, fmt.Sprintf("project %s: reviewed (%s) and discarded with its linkage record", project, q.Reason))
	if err := s.Store.RejectQuarantine(ctx, project, sop, ev); err != nil {
		return err
	}
	s.dropHeld(ctx, q)
	return nil
}

// dropHeld deletes a reviewed item's bytes.
func (s *Service) dropHeld(ctx context.Context, q *deid.QuarantineItem) {
	// Quarantined bytes are de-identified with a project's own key, so two
	// projects never hold the same bytes; one project holds an instance
	// once. The key is this item's alone.
	if err := s.Blobs.Delete(context.WithoutCancel(ctx), q.BlobKey); err != nil {
		s.logger().Warn("intake: delete reviewed quarantine bytes", "key", q.BlobKey, "err", err)
	}
}

// Linkage opens the sealed original→pseudonym record of a de-identified
// instance. The look-up commits with its audit event before anything is
// decrypted; the caller must have checked that op's actor is a site admin.
func (s *Service) Linkage(ctx context.Context, op workflow.Op, project radmark.ID, sop string) ([]deid.Link, error) {
	if s.Deid == nil || s.Deid.Sealer == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "no linkage key is configured on this server (--deid-key-file or RADMARK_DEID_KEY), so linkage can be neither kept nor read")
	}
	ev := s.event(op, "deid.linkage.read", "instance", sop, "project "+string(project))
	keyID, sealed, err := s.Store.DeidLinkage(ctx, project, sop, ev)
	if err != nil {
		return nil, err
	}
	if keyID != s.Deid.Sealer.KeyID() {
		return nil, radmark.Errorf(radmark.ECONFLICT, "the linkage of %s was sealed with key %s, not with the configured key %s", sop, keyID, s.Deid.Sealer.KeyID())
	}
	links, err := s.Deid.Sealer.Open(sealed, string(project)+"\x00"+sop)
	if err != nil {
		return nil, radmark.WrapError(radmark.EINTERNAL, err, "the linkage record does not open")
	}
	return links, nil
}

// Held opens the de-identified bytes of a quarantined instance, for the
// reviewer to look for burned-in text.
func (s *Service) Held(ctx context.Context, project radmark.ID, sop string) (io.ReadCloser, error) {
	q, err := s.quarantined(ctx, project, sop)
	if err != nil {
		return nil, err
	}
	rc, _, err := s.Blobs.Get(ctx, q.BlobKey)
	if err != nil {
		return nil, radmark.WrapError(radmark.EUNAVAILABLE, err, "the quarantined instance's bytes cannot be read")
	}
	return rc, nil
}
