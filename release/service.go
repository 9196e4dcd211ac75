package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dataset"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/nifti"
	"github.com/radmark/radmark/volume"
)

// Studies finds the archive's study records (for their patient).
type Studies interface {
	FindStudies(ctx context.Context, q radmark.Query) ([]*radmark.Study, error)
}

// Cases lists a project's workflow cases.
type Cases interface {
	Cases(ctx context.Context, f radmark.CaseFilter) ([]*radmark.Case, error)
}

// Service creates and serves releases.
type Service struct {
	Store    Store
	Blobs    radmark.BlobStore
	Exchange *exchange.Service
	// Archive reads the frozen instances; Studies their patients.
	Archive volume.Source
	Studies Studies
	// Cases is the workflow; nil means no project has cases.
	Cases Cases
	// Profiles gives a project's de-identification profile; when a
	// project has one, every frozen instance must pass the PHI scanner.
	// Nil: no project is de-identified.
	Profiles deid.ProfileSource
	// TempDir receives the staging folder ("" = the system's).
	TempDir  string
	Software string
	Now      func() time.Time
}

// Request asks for a release.
type Request struct {
	Project radmark.ID `json:"project"`
	// Revisions names the revisions to freeze; required for a project
	// without workflow cases, and overrides the workflow's selection.
	Revisions []radmark.ID `json:"revisions,omitempty"`
	Fractions Fractions    `json:"fractions"`
	Seed      int64        `json:"seed"`
	Stratify  bool         `json:"stratify,omitempty"`
}

// Progress is told how far a long operation is.
type Progress func(done, total int, message string)

// Result is a created (or already existing, identical) release.
type Result struct {
	Release *Release `json:"release"`
	// Existed is set when the same release had been created before.
	Existed bool `json:"existed,omitempty"`
	// Skipped counts workflow cases left out because they are not done.
	Skipped int `json:"skipped,omitempty"`
}

// frozen is one case being released.
type frozen struct {
	Case
	set     *radmark.AnnotationSet
	rev     *radmark.Revision
	series  []radmark.UID // image series frozen
	labeled []radmark.UID // series with a labelmap
	patient string        // the patient's key (never written out)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Create freezes the project's accepted annotations into a release. It
// refuses (EINVALID) when nothing is accepted, when a de-identified
// project's instance fails the PHI scanner, or when an export fails;
// nothing is stored then, and the staging files are removed.
func (s *Service) Create(ctx context.Context, op annotation.Op, req Request, progress Progress) (*Result, error) {
	if progress == nil {
		progress = func(int, int, string) {}
	}
	if err := req.Fractions.Validate(); err != nil {
		return nil, err
	}
	ann := s.Exchange.Annotations
	project, err := ann.Project(ctx, req.Project)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", req.Project, err)
	}
	schema, err := ann.Schema(ctx, project.ID, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", project.ID, err)
	}
	cases, selection, skipped, err := s.selectCases(ctx, op, project, req.Revisions)
	if err != nil {
		return nil, err
	}
	instances, err := s.freeze(ctx, cases)
	if err != nil {
		return nil, err
	}
	steps := len(cases) + 3
	if err := s.scanPHI(ctx, project, instances, func(n int) { progress(n, steps+len(instances), "checking instances for PHI") }); err != nil {
		return nil, err
	}
	offset := len(instances)
	steps += offset
	patients, err := s.split(cases, req)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(s.TempDir, "radmark-release-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	files := filepath.Join(tmp, "files")
	st := &stage{dir: files}
	if err := os.Mkdir(files, 0o700); err != nil {
		return nil, err
	}
	if err := s.exportCases(ctx, op, project, schema, cases, st, func(i int) {
		progress(offset+i, steps, fmt.Sprintf("exporting case %d of %d", i+1, len(cases)))
	}); err != nil {
		return nil, err
	}
	progress(offset+len(cases), steps, "tabulating measurements")
	var rows []exchange.MeasurementRow
	for _, c := range cases {
		more, err := s.Exchange.RevisionMeasurements(ctx, op, c.set, c.rev.ID)
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	if err := st.add("measurements.csv", func(w io.Writer) error { return exchange.WriteMeasurementsCSV(w, rows) }); err != nil {
		return nil, err
	}
	if err := st.add("schema.json", func(w io.Writer) error { return writeJSON(w, schema) }); err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, Project: ProjectRef{ID: project.ID, Name: project.Name}, SchemaVersion: schema.Version,
		Selection: selection, Software: s.Software, Instances: instances, Files: st.files,
		Split: SplitSpec{Unit: "patient", Seed: req.Seed, Fractions: req.Fractions, Stratify: req.Stratify, Patients: patients}}
	counts := map[string]int{Train: 0, Validation: 0, Test: 0}
	for _, c := range cases {
		m.Cases = append(m.Cases, c.Case)
		counts[c.Split]++
		if t := c.rev.CreatedAt.UTC(); t.After(m.FrozenAt) {
			m.FrozenAt = t
		}
	}
	if err := checkNoLeak(m.Cases); err != nil {
		return nil, err
	}
	raw, id, err := m.Encode()
	if err != nil {
		return nil, err
	}
	if old, err := s.Store.Release(ctx, id); err == nil {
		return &Result{Release: old, Existed: true, Skipped: skipped}, nil
	} else if radmark.ErrorCode(err) != radmark.ENOTFOUND {
		return nil, err
	}
	progress(steps-1, steps, "writing the release archive")
	r := &Release{ID: id, ProjectID: project.ID, SchemaVersion: schema.Version, Selection: selection, Seed: req.Seed,
		Fractions: req.Fractions, Stratify: req.Stratify, Cases: counts, Files: len(m.Files), CreatedBy: op.Actor, CreatedAt: s.now()}
	for _, f := range m.Files {
		r.Bytes += f.Size
	}
	if err := s.store(ctx, op, r, raw, filepath.Join(tmp, "release.tar"), files, m); err != nil {
		var existing *Release
		if radmark.ErrorCode(err) == radmark.ECONFLICT {
			if existing, err = s.Store.Release(ctx, id); err == nil {
				return &Result{Release: existing, Existed: true, Skipped: skipped}, nil
			}
		}
		return nil, err
	}
	progress(steps, steps, "done")
	return &Result{Release: r, Skipped: skipped}, nil
}

// store writes the archive, puts it and the manifest in the blob store
// and records the release with its audit event. The blobs are removed
// again if the record cannot be written (unless the same release was
// recorded meanwhile: its blobs are the same bytes).
func (s *Service) store(ctx context.Context, op annotation.Op, r *Release, raw []byte, tarPath, files string, m *Manifest) error {
	f, err := os.Create(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if err := WriteTar(io.MultiWriter(f, h), r.ID, raw, m.Files, files, m.FrozenAt); err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	r.Size, r.SHA256 = size, hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := s.Blobs.Put(ctx, ArchiveKey(r.ID), f, size); err != nil {
		return fmt.Errorf("store release archive: %w", err)
	}
	if _, err := s.Blobs.Put(ctx, ManifestKey(r.ID), bytes.NewReader(raw), int64(len(raw))); err != nil {
		s.dropBlobs(r.ID)
		return fmt.Errorf("store release manifest: %w", err)
	}
	detail, _ := json.Marshal(map[string]any{"project": r.ProjectID, "cases": r.Cases, "seed": r.Seed,
		"fractions": r.Fractions, "stratify": r.Stratify, "selection": r.Selection, "files": r.Files})
	ev := &radmark.AuditEvent{ID: annotation.NewID(), Time: r.CreatedAt, Actor: op.Actor, Action: "release.create",
		ObjectType: "release", ObjectID: r.ID, AfterHash: r.ID, RequestID: op.RequestID, Detail: string(detail)}
	if err := s.Store.PutRelease(ctx, r, ev); err != nil {
		if radmark.ErrorCode(err) != radmark.ECONFLICT {
			s.dropBlobs(r.ID)
		}
		return err
	}
	return nil
}

func (s *Service) dropBlobs(id string) {
	// A fresh context: the request's may be what failed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Blobs.Delete(ctx, ArchiveKey(id))
	_ = s.Blobs.Delete(ctx, ManifestKey(id))
}

// selectCases finds what is accepted: the named revisions, else the
// final revision of every done workflow case.
func (s *Service) selectCases(ctx context.Context, op annotation.Op, project *radmark.Project, revisions []radmark.ID) ([]*frozen, string, int, error) {
	ann := s.Exchange.Annotations
	var out []*frozen
	add := func(revID radmark.ID, wc *radmark.Case) error {
		rev, err := ann.Revision(ctx, op, revID)
		if err != nil {
			return fmt.Errorf("revision %s: %w", revID, err)
		}
		set, err := ann.Set(ctx, rev.SetID)
		if err != nil {
			return err
		}
		if set.ProjectID != project.ID {
			return radmark.Errorf(radmark.EINVALID, "revision %s belongs to another project's annotation set %s", revID, set.ID)
		}
		f := &frozen{set: set, rev: rev, Case: Case{StudyUID: set.StudyUID, SeriesUID: set.SeriesUID, SetID: set.ID,
			Reader: set.Reader, Revision: rev.ID, ContentHash: rev.ContentHash, Labels: []string{}}}
		if wc != nil {
			f.WorkflowCase, f.Outcome = wc.ID, wc.Outcome
		}
		out = append(out, f)
		return nil
	}
	if len(revisions) > 0 {
		seen := map[radmark.ID]bool{}
		for _, id := range revisions {
			if seen[id] {
				return nil, "", 0, radmark.Errorf(radmark.EINVALID, "revision %s is named twice", id)
			}
			seen[id] = true
			if err := add(id, nil); err != nil {
				return nil, "", 0, err
			}
		}
		sortFrozen(out)
		return out, "revisions", 0, nil
	}
	var cases []*radmark.Case
	if s.Cases != nil {
		var err error
		if cases, err = s.Cases.Cases(ctx, radmark.CaseFilter{ProjectID: project.ID}); err != nil {
			return nil, "", 0, err
		}
	}
	if len(cases) == 0 {
		return nil, "", 0, radmark.Errorf(radmark.EINVALID, "project %s (%s) has no workflow cases, so none of its annotations is accepted; name the revisions to release (--revision ID, repeatable)", project.Name, project.ID)
	}
	skipped := 0
	for _, c := range cases {
		if c.State != radmark.CaseDone || c.FinalRevision == "" {
			skipped++
			continue
		}
		if err := add(c.FinalRevision, c); err != nil {
			return nil, "", 0, err
		}
	}
	if len(out) == 0 {
		return nil, "", 0, radmark.Errorf(radmark.EINVALID, "none of the %d workflow cases of project %s (%s) is done, so nothing is accepted yet", len(cases), project.Name, project.ID)
	}
	sortFrozen(out)
	return out, "workflow", skipped, nil
}

func sortFrozen(cs []*frozen) {
	slices.SortFunc(cs, func(a, b *frozen) int {
		for _, c := range []int{strings.Compare(string(a.StudyUID), string(b.StudyUID)), strings.Compare(string(a.SeriesUID), string(b.SeriesUID)),
			strings.Compare(a.Reader, b.Reader), strings.Compare(string(a.SetID), string(b.SetID)), strings.Compare(string(a.Revision), string(b.Revision))} {
			if c != 0 {
				return c
			}
		}
		return 0
	})
	for i, c := range cs {
		c.ID = fmt.Sprintf("case_%04d", i)
	}
}

// freeze finds every case's patient, labels and image series, and lists
// the instances of those series with their sha256.
func (s *Service) freeze(ctx context.Context, cases []*frozen) ([]Instance, error) {
	var out []Instance
	done := map[radmark.UID]bool{}
	for _, c := range cases {
		st, err := s.Studies.FindStudies(ctx, radmark.Query{Level: radmark.StudyLevel, StudyUID: c.StudyUID})
		if err != nil {
			return nil, err
		}
		if len(st) == 0 {
			return nil, radmark.Errorf(radmark.EINVALID, "study %s of %s (annotation set %s) is not in the archive", c.StudyUID, c.ID, c.SetID)
		}
		if p := st[0].Patient; p.ID != "" {
			c.patient = p.Issuer + "\x00" + p.ID
		} else {
			// Without a PatientID a study can only be its own patient.
			c.patient = "study\x00" + string(c.StudyUID)
		}
		series := map[radmark.UID]bool{}
		labels := map[string]bool{}
		if c.SeriesUID != "" {
			series[c.SeriesUID] = true
		}
		content := c.rev.Content
		for _, m := range content.Labelmaps {
			series[m.SeriesUID] = true
			if !slices.Contains(c.labeled, m.SeriesUID) {
				c.labeled = append(c.labeled, m.SeriesUID)
			}
		}
		for _, it := range content.Items {
			labels[it.Label] = true
			if it.Image != nil {
				ins, err := s.Archive.Select(ctx, c.StudyUID, "", it.Image.SOPInstanceUID)
				if err != nil {
					return nil, fmt.Errorf("%s: item %s: %w", c.ID, it.ID, err)
				}
				series[ins[0].SeriesUID] = true
			}
		}
		for _, a := range content.Answers {
			if a.SeriesUID != "" {
				series[a.SeriesUID] = true
			}
		}
		var all []*radmark.Instance
		if len(series) == 0 {
			// Study-level annotations only: the whole study is frozen.
			if all, err = s.Archive.Select(ctx, c.StudyUID, "", ""); err != nil {
				return nil, fmt.Errorf("%s: %w", c.ID, err)
			}
		} else {
			for uid := range series {
				ins, err := s.Archive.Select(ctx, c.StudyUID, uid, "")
				if err != nil {
					return nil, fmt.Errorf("%s: series %s: %w", c.ID, uid, err)
				}
				all = append(all, ins...)
			}
		}
		for _, in := range all {
			if !slices.Contains(c.series, in.SeriesUID) {
				c.series = append(c.series, in.SeriesUID)
			}
			if done[in.SOPInstanceUID] {
				continue
			}
			done[in.SOPInstanceUID] = true
			out = append(out, Instance{SOPInstanceUID: in.SOPInstanceUID, SeriesUID: in.SeriesUID, StudyUID: in.StudyUID, SHA256: in.SHA256, Size: in.Size})
		}
		slices.Sort(c.series)
		slices.Sort(c.labeled)
		for l := range labels {
			c.Labels = append(c.Labels, l)
		}
		slices.Sort(c.Labels)
	}
	slices.SortFunc(out, func(a, b Instance) int {
		if c := strings.Compare(string(a.SeriesUID), string(b.SeriesUID)); c != 0 {
			return c
		}
		return strings.Compare(string(a.SOPInstanceUID), string(b.SOPInstanceUID))
	})
	return out, nil
}

// scanPHI runs the PHI scanner on every frozen instance when the project
// has a de-identification profile.
func (s *Service) scanPHI(ctx context.Context, project *radmark.Project, instances []Instance, progress func(int)) error {
	if s.Profiles == nil {
		return nil
	}
	p, err := s.Profiles.CurrentDeidProfile(ctx, string(project.ID))
	if errors.Is(err, deid.ErrNoProfile) || (err == nil && p == nil) {
		return nil
	}
	if err != nil {
		return err
	}
	// The key only names pseudonyms; checking needs none of them.
	d, err := deid.New(*p, deid.ProjectKey([]byte("radmark release check"), string(project.ID)))
	if err != nil {
		return err
	}
	var found []string
	bad := 0
	for i, in := range instances {
		if i%50 == 0 {
			progress(i)
		}
		findings, err := s.scanOne(ctx, d, in)
		if err != nil {
			return err
		}
		if len(findings) > 0 {
			bad++
		}
		for _, f := range findings {
			if len(found) < 8 {
				found = append(found, string(in.SOPInstanceUID)+": "+f)
			}
		}
	}
	if bad > 0 {
		return radmark.Errorf(radmark.EINVALID, "release refused: project %s has de-identification profile %q (version %d) and the PHI scanner objects to %d of the %d frozen instances: %s",
			project.Name, p.Name, p.Version, bad, len(instances), strings.Join(found, "; "))
	}
	return nil
}

func (s *Service) scanOne(ctx context.Context, d *deid.Deidentifier, in Instance) ([]string, error) {
	ins, err := s.Archive.Select(ctx, in.StudyUID, in.SeriesUID, in.SOPInstanceUID)
	if err != nil {
		return nil, err
	}
	rc, err := s.Archive.Open(ctx, ins[0])
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := dicom.Parse(rc, ins[0].Size, dicom.ParseOptions{})
	if err != nil {
		return []string{"cannot be checked: " + err.Error()}, nil
	}
	var out []string
	for _, x := range d.Check(f.Dataset) {
		out = append(out, x.String())
	}
	return out, nil
}

// split assigns cases to parts by patient and numbers the patients.
func (s *Service) split(cases []*frozen, req Request) (map[string]int, error) {
	labels := map[string][]string{}
	var order []string
	for _, c := range cases {
		if _, ok := labels[c.patient]; !ok {
			order = append(order, c.patient)
			labels[c.patient] = []string{}
		}
		labels[c.patient] = append(labels[c.patient], c.Labels...)
	}
	ps := make([]Patient, len(order))
	for i, k := range order {
		ps[i] = Patient{Key: k, Labels: labels[k]}
	}
	parts, err := SplitPatients(ps, req.Fractions, req.Seed, req.Stratify)
	if err != nil {
		return nil, err
	}
	number := map[string]string{}
	for i, k := range order {
		number[k] = fmt.Sprintf("patient_%04d", i+1)
	}
	counts := map[string]int{Train: 0, Validation: 0, Test: 0}
	for _, k := range order {
		counts[parts[k]]++
	}
	for _, c := range cases {
		c.Split, c.Patient = parts[c.patient], number[c.patient]
	}
	return counts, nil
}

// checkNoLeak is the invariant every release keeps: no patient in two
// parts.
func checkNoLeak(cases []Case) error {
	part := map[string]string{}
	for _, c := range cases {
		if p, ok := part[c.Patient]; ok && p != c.Split {
			return radmark.Errorf(radmark.EINTERNAL, "%s is in both %s and %s", c.Patient, p, c.Split)
		}
		part[c.Patient] = c.Split
	}
	return nil
}

// exportCases writes the nnU-Net dataset (train and validation in
// imagesTr/labelsTr with splits_final.json, test in imagesTs/labelsTs), a
// MONAI datalist, a SEG per segmented series and an SR per case with
// measurements, other items or answers.
func (s *Service) exportCases(ctx context.Context, op annotation.Op, project *radmark.Project, schema *radmark.LabelSchema, cases []*frozen, st *stage, progress func(int)) error {
	ids, labels, err := dataset.LabelIDs(schema)
	if err != nil {
		return err
	}
	images := map[radmark.UID]string{}
	monai := dataset.MONAIDatalist{Training: []dataset.MONAIEntry{}}
	folds := []map[string][]string{{"train": {}, "val": {}}}
	modality := ""
	numTraining := 0
	for i, c := range cases {
		progress(i)
		for k, series := range c.labeled {
			name := c.ID
			if len(c.labeled) > 1 {
				name = fmt.Sprintf("%s_%d", c.ID, k+1)
			}
			sub := "Tr"
			if c.Split == Test {
				sub = "Ts"
			}
			imagePath := "nnunet/images" + sub + "/" + name + "_0000" + dataset.FileEnding
			labelPath := "nnunet/labels" + sub + "/" + name + dataset.FileEnding
			lab, err := s.Exchange.DatasetLabels(ctx, op, c.Revision, series, schema)
			if err != nil {
				return fmt.Errorf("%s (set %s, revision %s), series %s: %w", c.ID, c.SetID, c.Revision, series, err)
			}
			if prev, ok := images[series]; ok {
				err = st.copy(imagePath, prev)
			} else {
				var img *nifti.Image
				if img, err = s.Exchange.ImageNIfTI(ctx, series); err == nil {
					err = st.add(imagePath, func(w io.Writer) error { return nifti.Write(w, img) })
					images[series] = imagePath
				}
				if err == nil {
					mod := strings.TrimSpace(s.modalityOf(ctx, series))
					switch {
					case modality == "":
						modality = mod
					case mod != modality:
						err = radmark.Errorf(radmark.EUNSUPPORTED, "the release mixes %s and %s series; an nnU-Net dataset has one channel", modality, mod)
					}
				}
			}
			if err != nil {
				return fmt.Errorf("%s, series %s: %w", c.ID, series, err)
			}
			if err := st.add(labelPath, func(w io.Writer) error { return nifti.Write(w, lab) }); err != nil {
				return err
			}
			segPath := "seg/" + name + ".dcm"
			ds, err := s.Exchange.SEG(ctx, op, c.Revision, series)
			if err != nil {
				return fmt.Errorf("%s, series %s: SEG: %w", c.ID, series, err)
			}
			if err := st.add(segPath, func(w io.Writer) error { return dicom.WriteFile(w, ds, dicom.WriteOptions{}) }); err != nil {
				return err
			}
			c.Files = append(c.Files, imagePath, labelPath, segPath)
			entry := dataset.MONAIEntry{Image: strings.TrimPrefix(imagePath, "nnunet/"), Label: strings.TrimPrefix(labelPath, "nnunet/")}
			switch c.Split {
			case Train:
				monai.Training = append(monai.Training, entry)
				folds[0]["train"] = append(folds[0]["train"], name)
				numTraining++
			case Validation:
				monai.Validation = append(monai.Validation, entry)
				folds[0]["val"] = append(folds[0]["val"], name)
				numTraining++
			default:
				monai.Test = append(monai.Test, entry)
			}
		}
	}
	for _, c := range cases {
		if err := s.exportSR(ctx, op, c, st); err != nil {
			return err
		}
	}
	if err := s.exportCOCO(ctx, op, project, cases, st); err != nil {
		return err
	}
	if len(images) == 0 {
		return nil // nothing segmented: no nnU-Net dataset
	}
	if numTraining == 0 {
		return radmark.Errorf(radmark.EINVALID, "every segmented case fell into the test part, so the nnU-Net dataset would have nothing to train on; change the split fractions or the seed")
	}
	d := dataset.NewNNUNet(project.Name, modality, labels, ids, numTraining)
	if err := d.Validate(); err != nil {
		return err
	}
	for name, v := range map[string]any{"nnunet/dataset.json": d, "nnunet/datalist.json": monai, "nnunet/splits_final.json": folds} {
		if err := st.add(name, func(w io.Writer) error { return writeJSON(w, v) }); err != nil {
			return err
		}
	}
	return nil
}

// exportSR writes a case's DICOM SR TID 1500 Measurement Report when its
// revision holds something a report carries (items other than
// segmentations, or answers) and lies on one series of cross-sectional
// images, as SR export needs.
func (s *Service) exportSR(ctx context.Context, op annotation.Op, c *frozen, st *stage) error {
	content := c.rev.Content
	reportable := len(content.Answers) > 0
	for _, it := range content.Items {
		reportable = reportable || it.Kind != radmark.KindSegmentation
	}
	if !reportable || c.set.SeriesUID == "" {
		return nil
	}
	// A projection image has no patient geometry for an SR's coordinates;
	// its annotations go into the release's COCO documents.
	if flat, err := s.isProjection(ctx, c.set.SeriesUID); err != nil || flat {
		return err
	}
	ds, err := s.Exchange.SR(ctx, op, c.Revision)
	if err != nil {
		return fmt.Errorf("%s (set %s, revision %s): SR: %w", c.ID, c.SetID, c.Revision, err)
	}
	path := "sr/" + c.ID + ".dcm"
	if err := st.add(path, func(w io.Writer) error { return dicom.WriteFile(w, ds, dicom.WriteOptions{}) }); err != nil {
		return err
	}
	c.Files = append(c.Files, path)
	return nil
}

// projectionClasses are the SOP classes of 2D projection images (CR, DX,
// MG, IO for presentation and processing, XA, RF), which have no patient
// geometry: their annotations are in image pixels.
var projectionClasses = map[radmark.UID]bool{
	"1.2.840.10008.5.1.4.1.1.1": true, "1.2.840.10008.5.1.4.1.1.1.1": true, "1.2.840.10008.5.1.4.1.1.1.1.1": true,
	"1.2.840.10008.5.1.4.1.1.1.2": true, "1.2.840.10008.5.1.4.1.1.1.2.1": true, "1.2.840.10008.5.1.4.1.1.1.3": true,
	"1.2.840.10008.5.1.4.1.1.1.3.1": true, "1.2.840.10008.5.1.4.1.1.12.1": true, "1.2.840.10008.5.1.4.1.1.12.2": true,
}

// isProjection reports whether a series holds 2D projection images.
func (s *Service) isProjection(ctx context.Context, series radmark.UID) (bool, error) {
	ins, err := s.Archive.Select(ctx, "", series, "")
	if err != nil {
		return false, fmt.Errorf("series %s: %w", series, err)
	}
	return len(ins) > 0 && projectionClasses[ins[0].SOPClassUID], nil
}

// exportCOCO writes, when the release holds 2D cases (X-ray), one COCO
// document per part (coco/train.json, coco/validation.json,
// coco/test.json) of those cases' frozen revisions.
func (s *Service) exportCOCO(ctx context.Context, op annotation.Op, project *radmark.Project, cases []*frozen, st *stage) error {
	parts := map[string][]*frozen{}
	for _, c := range cases {
		if len(c.series) == 0 {
			continue
		}
		flat, err := s.isProjection(ctx, c.series[0])
		if err != nil {
			return err
		}
		if flat {
			parts[c.Split] = append(parts[c.Split], c)
		}
	}
	for _, part := range []string{Train, Validation, Test} {
		if len(parts[part]) == 0 {
			continue
		}
		revs := make([]radmark.ID, len(parts[part]))
		for i, c := range parts[part] {
			revs[i] = c.Revision
		}
		ds, err := s.Exchange.COCORevisions(ctx, op, project.ID, revs)
		if err != nil {
			return fmt.Errorf("COCO of the %s part: %w", part, err)
		}
		path := "coco/" + part + ".json"
		if err := st.add(path, func(w io.Writer) error { return writeJSON(w, ds) }); err != nil {
			return err
		}
		for _, c := range parts[part] {
			c.Files = append(c.Files, path)
		}
	}
	return nil
}

// modalityOf returns the series' modality from its first instance.
func (s *Service) modalityOf(ctx context.Context, series radmark.UID) string {
	sr, err := s.Exchange.Series(ctx, series)
	if err != nil || sr.Volume == nil {
		return ""
	}
	return sr.Volume.Grid.Modality
}

func writeJSON(w io.Writer, v any) error {
	b, err := dataset.JSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// stage is the folder a release's files are written to, recording each
// file's sha256 and size as it is written.
type stage struct {
	dir   string
	files []File
}

func (st *stage) add(p string, write func(w io.Writer) error) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	full := filepath.Join(st.dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := write(cw); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	st.files = append(st.files, File{Path: p, SHA256: hex.EncodeToString(h.Sum(nil)), Size: cw.n})
	slices.SortFunc(st.files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return nil
}

func (st *stage) copy(p, from string) error {
	in, err := os.Open(filepath.Join(st.dir, filepath.FromSlash(path.Clean(from))))
	if err != nil {
		return err
	}
	defer in.Close()
	return st.add(p, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Get returns a release's record.
func (s *Service) Get(ctx context.Context, id string) (*Release, error) {
	if !IsID(id) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "release %q not found (a release id is 64 hex digits)", id)
	}
	return s.Store.Release(ctx, id)
}

// List lists a project's releases, newest first.
func (s *Service) List(ctx context.Context, project radmark.ID) ([]*Release, error) {
	return s.Store.Releases(ctx, project)
}

// Write writes a release's archive to w as "tar" or "zip".
func (s *Service) Write(ctx context.Context, id, format string, w io.Writer) error {
	if format != "tar" && format != "zip" {
		return radmark.Errorf(radmark.EINVALID, "release format %q: want tar or zip", format)
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	rc, info, err := s.Blobs.Get(ctx, ArchiveKey(r.ID))
	if err != nil {
		return fmt.Errorf("release %s: %w", r.ID, err)
	}
	defer rc.Close()
	if info.SHA256 != "" && info.SHA256 != r.SHA256 {
		return radmark.Errorf(radmark.EINTERNAL, "the stored archive of release %s has sha256 %s, its record says %s", r.ID, info.SHA256, r.SHA256)
	}
	if format == "zip" {
		return TarToZip(rc, w)
	}
	_, err = io.Copy(w, rc)
	return err
}

// JobKind is the kind of background job that creates a release.
const JobKind = "release"

// RunJob is the job.Handler of release jobs: the job's parameters are a
// Request (its project is the job's) and its result a Result.
func (s *Service) RunJob(ctx context.Context, j *job.Job, p job.Progress) (json.RawMessage, error) {
	var req Request
	if err := json.Unmarshal(j.Params, &req); err != nil {
		return nil, radmark.Errorf(radmark.EINVALID, "release job parameters: %v", err)
	}
	req.Project = j.ProjectID
	res, err := s.Create(ctx, annotation.Op{Actor: j.CreatedBy}, req, Progress(p))
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}
