package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/exchange"
)

const importUsage = `Usage:
  radmark import seg   FILE --project ID|NAME --reader NAME [--series UID] [--add-labels]
  radmark import sr    FILE --project ID|NAME --reader NAME [--series UID] [--add-labels]
  radmark import rtstruct FILE --project ID|NAME --reader NAME [--series UID] [--add-labels]
  radmark import nifti FILE --project ID|NAME --reader NAME --series UID [--labels 1=liver,2=nodule]
                            [--model NAME --model-version V]

Places a DICOM SEG (on the series it references) or a NIfTI label map (on
--series; the grids must match) and saves it as a new revision of the
reader's annotation set in the project, replacing the set's segmentation
on that series. SEG segments are labelled by matching their coded
category and type to the project's labels; unknown codes are an error
unless --add-labels adds them to the schema. NIfTI values are the
project's label ids (as radmark's nifti-labels and nnU-Net exports write
them) unless --labels maps them.

An SR (TID 1500 Measurement Report) goes on the series it references:
its measurement groups become items (landmarks, lengths, contours, boxes,
ellipses... by their image region; radmark's own reports give back
exactly the items exported), its measurements and evaluations answers to
the schema's questions of the same concept. It replaces the set's items
and answers but keeps its segmentation. --add-labels adds labels for
unknown findings and number questions for unknown measurements; groups
with no place on the series are listed.

An RTSTRUCT's ROIs are rasterised onto the series it references (its
frame of reference must be the series'): closed planar contours filled
even-odd at pixel centres, overlapping ROIs in separate layers; POINT
contours become landmarks on their slice (points more than 1 mm from
every slice are listed), OPEN_PLANAR ones open contours; all labelled by
identification code or name (--add-labels adds unknown ones, or the kind
to an ROI's label). Like a SEG it replaces the set's segmentation on that
series, and the points and lines of an earlier RTSTRUCT import there.

Offline it works on the data directory; with --server URL [--token T] the
file is uploaded to the server, which imports it into one's own annotation
set, or with --reader into that reader's (a model's output, another tool's
reads), which needs a project manager.
`

// runImport runs `radmark import FORMAT FILE`.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, importUsage)
		return usageError{"no import format given (want seg, sr, rtstruct or nifti)"}
	}
	format := args[0]
	switch format {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, importUsage)
		return nil
	case "seg", "sr", "rtstruct", "nifti":
	default:
		fmt.Fprint(stderr, importUsage)
		return usageError{fmt.Sprintf("unknown import format %q (want seg, sr, rtstruct or nifti)", format)}
	}
	fs := newFlagSet("import "+format, stderr)
	var st storageFlags
	st.register(fs)
	project := fs.String("project", "", "project id or name (required)")
	reader := fs.String("reader", "", "reader whose annotation set receives the revision (default --actor)")
	series := fs.String("series", "", "series to place the segmentation on")
	addLabels := fs.Bool("add-labels", false, "seg, sr, rtstruct: add labels (and sr: questions) for codes the schema lacks")
	labels := fs.String("labels", "", "nifti: map values to label ids, VALUE=LABEL,...")
	model := fs.String("model", "", "nifti: the model that made the label map")
	modelVersion := fs.String("model-version", "", "nifti: the model's version")
	message := fs.String("message", "", "revision message")
	actor := fs.String("actor", defaultActor(), "who imports, for the audit log (offline)")
	server := fs.String("server", envDefault("server", ""), "import on a radmark server (its base URL)")
	token := fs.String("token", envDefault("token", ""), "personal API token for --server; RADMARK_TOKEN")
	fs.Usage = func() {
		fmt.Fprint(stderr, importUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageError{fmt.Sprintf("want one FILE, got %d", len(files))}
	}
	if *project == "" {
		return usageError{"--project is required"}
	}
	if format == "nifti" && *series == "" {
		return usageError{"--series is required for a NIfTI"}
	}
	if (*model == "") != (*modelVersion == "") {
		return usageError{"--model and --model-version go together"}
	}
	values, err := exchange.ParseValueLabels(*labels)
	if err != nil {
		return usageError{"--labels: " + radmark.ErrorMessage(err)}
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	var res *exchange.ImportResult
	if *server != "" {
		q := url.Values{"format": {format}, "series": {*series}, "addLabels": {strconv.FormatBool(*addLabels)},
			"labels": {*labels}, "model": {*model}, "modelVersion": {*modelVersion}, "message": {*message}}
		res, err = importRemote(ctx, &apiClient{server: strings.TrimRight(*server, "/"), token: *token, http: &http.Client{}}, *project, *reader, q, data)
	} else {
		res, err = importOffline(ctx, &st, *actor, *project, format, data,
			exchange.ImportOptions{Reader: *reader, Series: radmark.UID(*series), AddLabels: *addLabels, Message: *message},
			*model, *modelVersion, values)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "%s: not imported: %s\n", files[0], s)
	}
	rev := res.Revision
	fmt.Fprintf(stdout, "saved revision %s (number %d) of annotation set %s: %d items, %d labelmap layers\n",
		rev.ID, rev.Number, rev.SetID, len(rev.Content.Items), len(rev.Content.Labelmaps))
	return nil
}

func importOffline(ctx context.Context, st *storageFlags, actor, project, format string, data []byte, opt exchange.ImportOptions,
	model, modelVersion string, values map[int]string) (*exchange.ImportResult, error) {
	env, err := openExchange(ctx, st, actor)
	if err != nil {
		return nil, err
	}
	defer env.db.Close()
	if opt.Project, err = env.resolveProject(ctx, project); err != nil {
		return nil, err
	}
	if model != "" {
		opt.Source = radmark.Source{Type: "model", Name: model, Version: modelVersion}
	}
	return env.svc.Import(ctx, env.op, format, data, opt, values)
}

// importRemote uploads a file to a server's import route: into one's
// own annotation set, or with reader (which needs a project manager) into
// that reader's.
func importRemote(ctx context.Context, c *apiClient, project, reader string, q url.Values, data []byte) (*exchange.ImportResult, error) {
	projectID, err := c.projectID(ctx, project)
	if err != nil {
		return nil, err
	}
	for k, v := range q {
		if len(v) == 0 || v[0] == "" || v[0] == "false" {
			delete(q, k)
		}
	}
	res := &exchange.ImportResult{}
	path := "/projects/" + url.PathEscape(string(projectID))
	if reader != "" {
		path += "/readers/" + url.PathEscape(reader)
	}
	path += "/imports?" + q.Encode()
	if _, err := c.doRaw(ctx, "POST", path, "application/octet-stream", bytes.NewReader(data), res); err != nil {
		return nil, err
	}
	return res, nil
}
