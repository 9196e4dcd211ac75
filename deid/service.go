package deid

import (
	"context"
	"errors"
	"fmt"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// ProfileSource returns a project's current profile; ErrNoProfile (or a
// nil profile) when it has none.
type ProfileSource interface {
	CurrentDeidProfile(ctx context.Context, projectID string) (*Profile, error)
}

// Service de-identifies instances on their way into a project.
type Service struct {
	Profiles ProfileSource
	// Sealer, if set, seals each result's linkage (Result.Linkage), which
	// the caller keeps with the instance; nil: no linkage is kept.
	Sealer *Sealer
	// SiteSecret (32 bytes or more) keys every project's pseudonyms.
	SiteSecret []byte
}

// Apply de-identifies ds for project with the project's current profile.
// It fails closed: no valid profile, a dataset the profile cannot
// process, or a result the PHI scanner objects to is an error, never a
// pass-through. quarantined reports an instance that may carry burned-in
// text: out must go to review, not to the project.
func (s *Service) Apply(ctx context.Context, project string, ds *dicom.Dataset) (out *dicom.Dataset, quarantined bool, err error) {
	res, err := s.Deidentify(ctx, project, ds)
	if err != nil {
		return nil, false, err
	}
	return res.Dataset, res.Quarantine != "", nil
}

// Deidentify is Apply with the whole result.
func (s *Service) Deidentify(ctx context.Context, project string, ds *dicom.Dataset) (*Result, error) {
	if s.Profiles == nil {
		return nil, ErrNoProfile
	}
	p, err := s.Profiles.CurrentDeidProfile(ctx, project)
	if err != nil {
		if errors.Is(err, ErrNoProfile) {
			return nil, err
		}
		return nil, fmt.Errorf("deid: profile of project %s: %w", project, err)
	}
	if p == nil {
		return nil, ErrNoProfile
	}
	return s.DeidentifyWith(p, project, ds)
}

// DeidentifyWith is Deidentify with the project's current profile p read
// by the caller, who may read it once for many instances.
func (s *Service) DeidentifyWith(p *Profile, project string, ds *dicom.Dataset) (*Result, error) {
	if p == nil {
		return nil, ErrNoProfile
	}
	if len(s.SiteSecret) < 32 {
		return nil, errors.New("deid: site secret missing or shorter than 32 bytes")
	}
	d, err := New(*p, ProjectKey(s.SiteSecret, project))
	if err != nil {
		return nil, err
	}
	res, err := d.Apply(ds)
	if err != nil {
		return nil, err
	}
	if fs := d.Scan(ds, res.Dataset); len(fs) > 0 {
		return nil, fmt.Errorf("%w: PHI scanner: %s (and %d more)", ErrUnprocessable, fs[0], len(fs)-1)
	}
	if s.Sealer != nil {
		uid := res.Dataset.String(dicom.TagSOPInstanceUID)
		sealed, err := s.Sealer.Seal(res.Links, project+"\x00"+uid)
		if err != nil {
			return nil, err
		}
		res.Linkage = &radmark.SealedLinkage{ProjectID: radmark.ID(project), KeyID: s.Sealer.KeyID(), Sealed: sealed}
	}
	return res, nil
}
