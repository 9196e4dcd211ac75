package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/nifti"
)

const exportUsage = `Usage:
  radmark export nifti        --series UID --out FILE.nii.gz
  radmark export seg          --series UID [--revision ID] [--reader NAME] --out FILE.dcm
  radmark export sr           --series UID|--set ID [--revision ID] [--reader NAME] --out FILE.dcm
  radmark export rtstruct     --series UID [--revision ID] [--reader NAME] --out FILE.dcm
  radmark export nifti-labels --series UID [--revision ID] [--reader NAME] [--layer N] --out FILE.nii.gz
  radmark export nnunet       --project ID|NAME --out DIR
  radmark export coco         --project ID|NAME --out DIR
  radmark export measurements --project ID|NAME --format csv|json --out FILE

nifti writes a series' image volume (modality units, RAS affine);
nifti-labels its segmentation aligned with it (project label ids, or one
layer's raw values with --layer); seg a DICOM SEG of a revision; sr a
DICOM SR TID 1500 Measurement Report of a revision (measurements with
UCUM units, coordinates, coded findings); rtstruct an RT Structure Set of
a revision's segmentation (one ROI per segment, contours per slice in
patient mm); nnunet an
nnU-Net v2 raw dataset with a MONAI datalist; coco a COCO annotations.json
of the 2D annotations (boxes, polygons, landmark keypoints, RLE masks of
labelmap slices; image file names are SOP Instance UIDs); measurements a table of
every set's head revision: the server's measurements (UCUM units) and the
classification answers, one row per quantity or answer. Without --revision the head
of the series' one annotation set (of --reader, --project) is exported.
Exports of the same revision are byte-identical. They run offline on the
data directory; nothing is written unless the export succeeds.
`

// exchangeEnv is the storage and services the export and import
// commands open.
type exchangeEnv struct {
	db  metaStore
	svc *exchange.Service
	op  annotation.Op
}

func openExchange(ctx context.Context, st *storageFlags, actor string) (*exchangeEnv, error) {
	db, blobs, err := openStorage(ctx, st)
	if err != nil {
		return nil, err
	}
	arch := newArchive(db, blobs, newDiscardLogger())
	ann := &annotation.Service{Store: db, Blobs: blobs, Images: &annotation.ArchiveImages{Source: arch}}
	return &exchangeEnv{db: db, op: annotation.Op{Actor: actor},
		svc: &exchange.Service{Annotations: ann, Images: arch, Software: "radmark " + versionString()}}, nil
}

func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "radmark-cli"
}

// resolveProject accepts a project id or name.
func (e *exchangeEnv) resolveProject(ctx context.Context, p string) (radmark.ID, error) {
	if p == "" {
		return "", nil
	}
	if _, err := e.svc.Annotations.Project(ctx, radmark.ID(p)); err == nil {
		return radmark.ID(p), nil
	}
	all, err := e.svc.Annotations.Projects(ctx)
	if err != nil {
		return "", err
	}
	for _, pr := range all {
		if pr.Name == p {
			return pr.ID, nil
		}
	}
	return "", radmark.Errorf(radmark.ENOTFOUND, "no project has id or name %q", p)
}

// parseInterspersed parses flags that may follow positional arguments
// ("radmark import seg FILE --project P").
func parseInterspersed(fs interface {
	Parse([]string) error
	NArg() int
	Args() []string
}, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Args()[0])
		args = fs.Args()[1:]
	}
}

// runExport runs `radmark export FORMAT`.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, exportUsage)
		return usageError{"no export format given (want nifti, seg, sr, rtstruct, nifti-labels, nnunet, coco or measurements)"}
	}
	format := args[0]
	switch format {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, exportUsage)
		return nil
	case "nifti", "seg", "sr", "rtstruct", "nifti-labels", "nnunet", "coco", "measurements":
	default:
		fmt.Fprint(stderr, exportUsage)
		return usageError{fmt.Sprintf("unknown export format %q (want nifti, seg, sr, rtstruct, nifti-labels, nnunet, coco or measurements)", format)}
	}
	fs := newFlagSet("export "+format, stderr)
	var st storageFlags
	st.register(fs)
	series := fs.String("series", "", "Series Instance UID")
	setID := fs.String("set", "", "sr: annotation set id (its head revision is exported)")
	revision := fs.String("revision", "", "revision id (default: the head of the series' annotation set)")
	reader := fs.String("reader", "", "reader whose annotation set to export, when the series has several")
	project := fs.String("project", "", "project id or name")
	layer := fs.Int("layer", -1, "nifti-labels: export this labelmap layer's raw values instead of merged label ids")
	out := fs.String("out", "", "output file (folder for nnunet)")
	tableFormat := fs.String("format", "csv", "measurements: csv or json")
	actor := fs.String("actor", defaultActor(), "who exports, for the audit log")
	fs.Usage = func() {
		fmt.Fprint(stderr, exportUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", rest)}
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	env, err := openExchange(ctx, &st, *actor)
	if err != nil {
		return err
	}
	defer env.db.Close()
	projectID, err := env.resolveProject(ctx, *project)
	if err != nil {
		return err
	}
	if format == "measurements" {
		if projectID == "" {
			return usageError{"--project is required"}
		}
		write := exchange.WriteMeasurementsCSV
		switch *tableFormat {
		case "csv":
		case "json":
			write = exchange.WriteMeasurementsJSON
		default:
			return usageError{fmt.Sprintf("--format %q: want csv or json", *tableFormat)}
		}
		rows, err := env.svc.Measurements(ctx, env.op, projectID)
		if err != nil {
			return err
		}
		if err := writeOut(*out, func(w io.Writer) error { return write(w, rows) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %d rows of measurements and answers\n", *out, len(rows))
		return nil
	}
	if format == "coco" {
		if projectID == "" {
			return usageError{"--project is required"}
		}
		ds, err := env.svc.WriteCOCO(ctx, env.op, projectID, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote COCO dataset %s: %d images, %d annotations, %d categories\n", *out, len(ds.Images), len(ds.Annotations), len(ds.Categories))
		return nil
	}
	if format == "nnunet" {
		if projectID == "" {
			return usageError{"--project is required"}
		}
		sum, err := env.svc.NNUNet(ctx, env.op, projectID, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote nnU-Net dataset %s: %d cases, labels %v\n", *out, len(sum.Cases), sum.Dataset.Labels)
		return nil
	}
	if format == "sr" && *setID != "" && *revision == "" {
		st, err := env.svc.Annotations.Set(ctx, radmark.ID(*setID))
		if err != nil {
			return err
		}
		if st.Head == "" {
			return radmark.Errorf(radmark.EINVALID, "annotation set %s has no revision", st.ID)
		}
		*revision = string(st.Head)
	}
	if *series == "" && (format == "nifti" || *revision == "") {
		return usageError{"--series is required"}
	}
	if format == "nifti" {
		im, err := env.svc.ImageNIfTI(ctx, radmark.UID(*series))
		if err != nil {
			return err
		}
		if err := writeOut(*out, func(w io.Writer) error { return nifti.Write(w, im) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %d×%d×%d voxels\n", *out, im.Dims[0], im.Dims[1], im.Dims[2])
		return nil
	}
	rev := radmark.ID(*revision)
	if rev == "" {
		if rev, err = env.svc.HeadRevision(ctx, radmark.UID(*series), projectID, *reader); err != nil {
			return err
		}
	}
	switch format {
	case "seg":
		ds, err := env.svc.SEG(ctx, env.op, rev, radmark.UID(*series))
		if err != nil {
			return err
		}
		if err := writeOut(*out, func(w io.Writer) error { return dicom.WriteFile(w, ds, dicom.WriteOptions{}) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: DICOM SEG of revision %s, %d segments, %d frames\n", *out, rev, len(ds.Items(dicom.NewTag(0x0062, 0x0002))), ds.IntOr(dicom.NewTag(0x0028, 0x0008), 0))
	case "rtstruct":
		ds, err := env.svc.RTSTRUCT(ctx, env.op, rev, radmark.UID(*series))
		if err != nil {
			return err
		}
		if err := writeOut(*out, func(w io.Writer) error { return dicom.WriteFile(w, ds, dicom.WriteOptions{}) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: RT Structure Set of revision %s, %d ROIs\n", *out, rev, len(ds.Items(dicom.NewTag(0x3006, 0x0020))))
	case "sr":
		ds, err := env.svc.SR(ctx, env.op, rev)
		if err != nil {
			return err
		}
		if err := writeOut(*out, func(w io.Writer) error { return dicom.WriteFile(w, ds, dicom.WriteOptions{}) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: DICOM SR TID 1500 of revision %s\n", *out, rev)
	case "nifti-labels":
		im, err := env.svc.LabelsNIfTI(ctx, env.op, rev, radmark.UID(*series), *layer)
		if err != nil {
			return err
		}
		if err := writeOut(*out, func(w io.Writer) error { return nifti.Write(w, im) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: label map of revision %s, %d×%d×%d voxels\n", *out, rev, im.Dims[0], im.Dims[1], im.Dims[2])
	}
	return nil
}

// writeOut encodes a file in memory and writes it with writeFileAtomic.
func writeOut(path string, encode func(w io.Writer) error) error {
	var buf bytes.Buffer
	if err := encode(&buf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes data to path through a temporary file in the same
// folder, synced and renamed into place: the file is whole or absent.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// parseValueLabels parses --labels "1=liver,2=nodule".
func parseValueLabels(s string) (map[int]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[int]string{}
	for _, part := range strings.Split(s, ",") {
		v, id, ok := strings.Cut(strings.TrimSpace(part), "=")
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); !ok || err != nil || n < 1 || n > 255 || id == "" {
			return nil, usageError{fmt.Sprintf("--labels: %q is not VALUE=LABEL with VALUE 1..255", part)}
		}
		out[n] = id
	}
	return out, nil
}
