package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/job"
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
data directory, or with --server URL --project P as a background job on a
server, showing its progress (a folder export comes as a tar and is
unpacked); either way nothing is written unless the export succeeds.
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
	actor := fs.String("actor", defaultActor(), "who exports, for the audit log (offline)")
	server := fs.String("server", envDefault("server", ""), "run on a radmark server (its base URL) as a background job; needs --project")
	token := fs.String("token", envDefault("token", ""), "personal API token for --server; RADMARK_TOKEN")
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
	req := exchange.ExportRequest{Format: format, Series: radmark.UID(*series), Set: radmark.ID(*setID), Revision: radmark.ID(*revision),
		Reader: *reader, Table: *tableFormat}
	if *layer >= 0 {
		req.Layer = layer
	}
	switch {
	case (format == "measurements" || exchange.IsFolderFormat(format)) && *project == "":
		return usageError{"--project is required"}
	case format == "measurements" && *tableFormat != "csv" && *tableFormat != "json":
		return usageError{fmt.Sprintf("--format %q: want csv or json", *tableFormat)}
	case format == "nifti" && *series == "",
		format != "measurements" && !exchange.IsFolderFormat(format) && *series == "" && *revision == "" && *setID == "":
		return usageError{"--series is required"}
	}
	if *server != "" {
		return exportRemote(ctx, &apiClient{server: strings.TrimRight(*server, "/"), token: *token, http: &http.Client{}}, *project, req, *out, stdout, stderr)
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
	var res *exchange.ExportResult
	if exchange.IsFolderFormat(format) {
		res, err = env.svc.ExportFolder(ctx, env.op, projectID, req, *out)
	} else {
		err = writeStreamAtomic(*out, func(w io.Writer) error {
			var err error
			res, err = env.svc.ExportFile(ctx, env.op, projectID, req, w)
			return err
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s\n", *out, res.Summary)
	return nil
}

// exportRemote runs an export as a job on a server, showing its progress,
// and downloads its file (a folder export's tar is unpacked into out).
// out is written whole or not at all.
func exportRemote(ctx context.Context, c *apiClient, project string, req exchange.ExportRequest, out string, stdout, stderr io.Writer) error {
	if project == "" {
		return usageError{"--project is required with --server"}
	}
	if exchange.IsFolderFormat(req.Format) {
		if _, err := os.Stat(out); err == nil {
			return radmark.Errorf(radmark.ECONFLICT, "%s already exists; an export goes to a new folder", out)
		}
	}
	projectID, err := c.projectID(ctx, project)
	if err != nil {
		return err
	}
	j := &job.Job{}
	if _, err := c.do(ctx, "POST", "/projects/"+url.PathEscape(string(projectID))+"/exports", req, j); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "export job %s started\n", j.ID)
	if j, err = c.waitJob(ctx, j, stderr); err != nil {
		return err
	}
	var res exchange.ExportResult
	if err := json.Unmarshal(j.Result, &res); err != nil || res.Name == "" {
		return fmt.Errorf("job %s: unreadable result %s", j.ID, j.Result)
	}
	resp, err := c.do(ctx, "GET", "/jobs/"+url.PathEscape(string(j.ID))+"/file", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// What came over the network is checked against the job's result.
	h := sha256.New()
	body := io.TeeReader(resp.Body, h)
	check := func() error {
		if got := hex.EncodeToString(h.Sum(nil)); got != res.SHA256 {
			return fmt.Errorf("the download of job %s has sha256 %s, the job stored %s", j.ID, got, res.SHA256)
		}
		return nil
	}
	if res.Folder {
		// The tar is checked whole before its folder is renamed into place.
		err = writeStreamAtomic(out+".tar", func(w io.Writer) error {
			if _, err := io.Copy(w, body); err != nil {
				return err
			}
			return check()
		})
		if err == nil {
			err = extractTarFile(out+".tar", out)
		}
	} else {
		err = writeStreamAtomic(out, func(w io.Writer) error {
			if _, err := io.Copy(w, body); err != nil {
				return err
			}
			return check()
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s\n", out, res.Summary)
	return nil
}

// extractTarFile unpacks a downloaded folder export and removes the tar.
func extractTarFile(tarPath, dir string) error {
	defer os.Remove(tarPath)
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	return exchange.ExtractFolderTar(f, dir)
}
