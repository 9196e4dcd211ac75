package exchange

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/nifti"
)

// ExportFormats are the formats Export writes. nnunet and coco are
// folders; the others single files.
var ExportFormats = []string{"nifti", "seg", "sr", "rtstruct", "nifti-labels", "nnunet", "coco", "measurements"}

// ExportRequest says what to export. The CLI (offline) and the server's
// export jobs both run it through Export, so both write the same bytes.
type ExportRequest struct {
	// Format is one of ExportFormats.
	Format string `json:"format"`
	// Series is the series of a nifti image export, and the series whose
	// annotation set's head is exported when Revision is empty.
	Series radmark.UID `json:"series,omitempty"`
	// Set (sr) exports that annotation set's head revision.
	Set radmark.ID `json:"set,omitempty"`
	// Revision is the revision to export (seg, sr, rtstruct,
	// nifti-labels); empty: the head of the series' one set (of Reader).
	Revision radmark.ID `json:"revision,omitempty"`
	Reader   string     `json:"reader,omitempty"`
	// Layer (nifti-labels) exports one labelmap layer's raw values
	// instead of the project's merged label ids.
	Layer *int `json:"layer,omitempty"`
	// Table (measurements) is csv (default) or json.
	Table string `json:"table,omitempty"`
}

// ExportResult describes a finished export.
type ExportResult struct {
	Format string `json:"format"`
	// Revision is the revision exported (annotation exports of a series).
	Revision radmark.ID `json:"revision,omitempty"`
	// Name is a file (or folder) name for the export; Folder is set for
	// the folder formats (nnunet, coco), which a server sends as a tar.
	Name        string `json:"name"`
	Folder      bool   `json:"folder,omitempty"`
	ContentType string `json:"contentType"`
	// Size and SHA256 describe the stored file (a folder's tar) of an
	// export job; Summary says what was written.
	Size    int64  `json:"size,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Summary string `json:"summary"`
}

// IsFolderFormat reports whether format is written as a folder.
func IsFolderFormat(format string) bool { return format == "nnunet" || format == "coco" }

// ResolveExport checks a request against project (empty: any project) and
// fills in the revision it exports: EINVALID for a request missing what
// its format needs, ENOTFOUND for a revision, set or series that does not
// exist or is not the project's. Export calls it; a server calls it before
// it queues a job, so a bad request fails at once.
func (s *Service) ResolveExport(ctx context.Context, op annotation.Op, project radmark.ID, req *ExportRequest) error {
	if !slices.Contains(ExportFormats, req.Format) {
		return radmark.Errorf(radmark.EINVALID, "unknown export format %q (want %s)", req.Format, strings.Join(ExportFormats, ", "))
	}
	switch req.Format {
	case "measurements":
		switch req.Table {
		case "":
			req.Table = "csv"
		case "csv", "json":
		default:
			return radmark.Errorf(radmark.EINVALID, "measurements table format %q: want csv or json", req.Table)
		}
		fallthrough
	case "nnunet", "coco":
		if project == "" {
			return radmark.Errorf(radmark.EINVALID, "a %s export needs a project", req.Format)
		}
		_, err := s.Annotations.Project(ctx, project)
		return err
	case "nifti":
		if req.Series == "" {
			return radmark.Errorf(radmark.EINVALID, "a nifti export needs a series")
		}
		return s.seriesInProject(ctx, project, req.Series)
	}
	if req.Format == "sr" && req.Set != "" && req.Revision == "" {
		set, err := s.Annotations.Set(ctx, req.Set)
		if err != nil {
			return fmt.Errorf("annotation set %s: %w", req.Set, err)
		}
		if set.Head == "" {
			return radmark.Errorf(radmark.EINVALID, "annotation set %s has no revision", set.ID)
		}
		req.Revision = set.Head
	}
	if req.Revision == "" {
		if req.Series == "" {
			return radmark.Errorf(radmark.EINVALID, "a %s export needs a series or a revision", req.Format)
		}
		head, err := s.HeadRevision(ctx, req.Series, project, req.Reader)
		if err != nil {
			return err
		}
		req.Revision = head
	}
	rev, err := s.Annotations.Revision(ctx, op, req.Revision)
	if err != nil {
		return fmt.Errorf("revision %s: %w", req.Revision, err)
	}
	if project != "" {
		set, err := s.Annotations.Set(ctx, rev.SetID)
		if err != nil {
			return err
		}
		if set.ProjectID != project {
			return radmark.Errorf(radmark.ENOTFOUND, "revision %s is not in project %s", rev.ID, project)
		}
	}
	return nil
}

// seriesInProject checks that project (if any) has an annotation set on
// the series.
func (s *Service) seriesInProject(ctx context.Context, project radmark.ID, series radmark.UID) error {
	if project == "" {
		return nil
	}
	sets, err := s.Annotations.Sets(ctx, radmark.SetFilter{ProjectID: project, SeriesUID: series})
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		return radmark.Errorf(radmark.ENOTFOUND, "project %s has no annotation set on series %s", project, series)
	}
	return nil
}

// ExportFile writes a single-file export (every format but nnunet and
// coco) to w, after ResolveExport.
func (s *Service) ExportFile(ctx context.Context, op annotation.Op, project radmark.ID, req ExportRequest, w io.Writer) (*ExportResult, error) {
	if IsFolderFormat(req.Format) {
		return nil, radmark.Errorf(radmark.EINVALID, "a %s export is a folder, not a file", req.Format)
	}
	if err := s.ResolveExport(ctx, op, project, &req); err != nil {
		return nil, err
	}
	res := &ExportResult{Format: req.Format, Revision: req.Revision, ContentType: "application/dicom"}
	switch req.Format {
	case "measurements":
		res.Revision = ""
		rows, err := s.Measurements(ctx, op, project)
		if err != nil {
			return nil, err
		}
		write, ctype := WriteMeasurementsCSV, "text/csv"
		if req.Table == "json" {
			write, ctype = WriteMeasurementsJSON, "application/json"
		}
		if err := write(w, rows); err != nil {
			return nil, err
		}
		res.Name, res.ContentType = "measurements."+req.Table, ctype
		res.Summary = fmt.Sprintf("%d rows of measurements and answers", len(rows))
	case "nifti":
		im, err := s.ImageNIfTI(ctx, req.Series)
		if err != nil {
			return nil, err
		}
		if err := nifti.Write(w, im); err != nil {
			return nil, err
		}
		res.Name, res.ContentType = string(req.Series)+".nii.gz", "application/gzip"
		res.Summary = fmt.Sprintf("%d×%d×%d voxels", im.Dims[0], im.Dims[1], im.Dims[2])
	case "nifti-labels":
		layer := -1
		if req.Layer != nil {
			layer = *req.Layer
		}
		im, err := s.LabelsNIfTI(ctx, op, req.Revision, req.Series, layer)
		if err != nil {
			return nil, err
		}
		if err := nifti.Write(w, im); err != nil {
			return nil, err
		}
		res.Name, res.ContentType = "labels-"+string(req.Revision)+".nii.gz", "application/gzip"
		res.Summary = fmt.Sprintf("label map of revision %s, %d×%d×%d voxels", req.Revision, im.Dims[0], im.Dims[1], im.Dims[2])
	case "seg", "rtstruct", "sr":
		var ds *dicom.Dataset
		var err error
		switch req.Format {
		case "seg":
			ds, err = s.SEG(ctx, op, req.Revision, req.Series)
		case "rtstruct":
			ds, err = s.RTSTRUCT(ctx, op, req.Revision, req.Series)
		default:
			ds, err = s.SR(ctx, op, req.Revision)
		}
		if err != nil {
			return nil, err
		}
		if err := dicom.WriteFile(w, ds, dicom.WriteOptions{}); err != nil {
			return nil, err
		}
		res.Name = req.Format + "-" + string(req.Revision) + ".dcm"
		switch req.Format {
		case "seg":
			res.Summary = fmt.Sprintf("DICOM SEG of revision %s, %d segments, %d frames", req.Revision,
				len(ds.Items(dicom.NewTag(0x0062, 0x0002))), ds.IntOr(dicom.NewTag(0x0028, 0x0008), 0))
		case "rtstruct":
			res.Summary = fmt.Sprintf("RT Structure Set of revision %s, %d ROIs", req.Revision, len(ds.Items(dicom.NewTag(0x3006, 0x0020))))
		default:
			res.Summary = fmt.Sprintf("DICOM SR TID 1500 of revision %s", req.Revision)
		}
	}
	return res, nil
}

// ExportFolder writes a folder export (nnunet, coco) of project into dir,
// which must not exist; it appears whole or not at all.
func (s *Service) ExportFolder(ctx context.Context, op annotation.Op, project radmark.ID, req ExportRequest, dir string) (*ExportResult, error) {
	if !IsFolderFormat(req.Format) {
		return nil, radmark.Errorf(radmark.EINVALID, "a %s export is a file, not a folder", req.Format)
	}
	if err := s.ResolveExport(ctx, op, project, &req); err != nil {
		return nil, err
	}
	res := &ExportResult{Format: req.Format, Folder: true, Name: req.Format + "-" + string(project), ContentType: "application/x-tar"}
	if req.Format == "coco" {
		ds, err := s.WriteCOCO(ctx, op, project, dir)
		if err != nil {
			return nil, err
		}
		res.Summary = fmt.Sprintf("COCO dataset: %d images, %d annotations, %d categories", len(ds.Images), len(ds.Annotations), len(ds.Categories))
		return res, nil
	}
	sum, err := s.NNUNet(ctx, op, project, dir)
	if err != nil {
		return nil, err
	}
	res.Summary = fmt.Sprintf("nnU-Net dataset: %d cases, labels %v", len(sum.Cases), sum.Dataset.Labels)
	return res, nil
}

// ImportFormats are the formats Import reads.
var ImportFormats = []string{"seg", "sr", "rtstruct", "nifti"}

// ImportResult is an import's saved revision and what it left out.
type ImportResult struct {
	Revision *radmark.Revision `json:"revision"`
	// Skipped says what an SR or RTSTRUCT held that has no place on the
	// series.
	Skipped []string `json:"skipped,omitempty"`
}

// Import reads a file of format and saves it as a new revision (see
// ImportSEG, ImportSR, ImportRTSTRUCT and ImportNIfTI; values maps NIfTI
// values to label ids).
func (s *Service) Import(ctx context.Context, op annotation.Op, format string, data []byte, opt ImportOptions, values map[int]string) (*ImportResult, error) {
	switch format {
	case "seg":
		rev, err := s.ImportSEG(ctx, op, data, opt)
		if err != nil {
			return nil, err
		}
		return &ImportResult{Revision: rev}, nil
	case "sr":
		res, err := s.ImportSR(ctx, op, data, opt)
		if err != nil {
			return nil, err
		}
		return &ImportResult{Revision: res.Revision, Skipped: res.Skipped}, nil
	case "rtstruct":
		res, err := s.ImportRTSTRUCT(ctx, op, data, opt)
		if err != nil {
			return nil, err
		}
		return &ImportResult{Revision: res.Revision, Skipped: res.Skipped}, nil
	case "nifti":
		if opt.Series == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "a NIfTI import needs the series to place it on")
		}
		rev, err := s.ImportNIfTI(ctx, op, data, opt, values)
		if err != nil {
			return nil, err
		}
		return &ImportResult{Revision: rev}, nil
	}
	return nil, radmark.Errorf(radmark.EINVALID, "unknown import format %q (want %s)", format, strings.Join(ImportFormats, ", "))
}

// ParseValueLabels parses "1=liver,2=nodule": the label ids of a NIfTI
// label map's values.
func ParseValueLabels(s string) (map[int]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[int]string{}
	for _, part := range strings.Split(s, ",") {
		v, id, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 1 || n > 255 || id == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "label values: %q is not VALUE=LABEL with VALUE 1..255", part)
		}
		out[n] = id
	}
	return out, nil
}
