package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/release"
)

const releaseUsage = `Usage:
  radmark release create --project ID|NAME [--split 0.7,0.15,0.15] [--seed N] [--stratify]
                         [--revision ID]... --out FILE.zip|FILE.tar [--server URL [--token TOKEN]]
  radmark release verify [--id ID] FILE

create freezes the project's accepted annotations into an immutable
release: the final revision of every done workflow case (or, for a project
without workflow cases, the revisions named with --revision), the image
instances they lie on (by sha256), a train/validation/test split by
patient (seeded; --stratify keeps the label mix of each part), the nnU-Net
v2 dataset with a MONAI datalist, a DICOM SEG per segmented series, a DICOM
SR TID 1500 per case with measurements or answers, the measurements table
and a manifest listing every file with its sha256. The
release id is the manifest's sha256. A de-identified project's instances
must pass the PHI scanner. Offline it works on the data directory; with
--server it runs as a background job on the server, showing its progress.

verify checks a release archive: every file's sha256 and size against the
manifest, and the manifest's sha256 against the release id (and --id).
`

func runRelease(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, releaseUsage)
		return usageError{"want: radmark release create|verify"}
	}
	switch args[0] {
	case "create":
		return releaseCreate(ctx, args[1:], stdout, stderr)
	case "verify":
		return releaseVerify(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, releaseUsage)
		return nil
	}
	fmt.Fprint(stderr, releaseUsage)
	return usageError{fmt.Sprintf("unknown release command %q (want create or verify)", args[0])}
}

// idList is a repeatable flag of ids.
type idList []radmark.ID

func (l *idList) String() string { return fmt.Sprint(*l) }
func (l *idList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, radmark.ID(p))
		}
	}
	return nil
}

// newReleases builds the release service over the storage.
func newReleases(db metaStore, blobs radmark.BlobStore, arch *archive.Service, ann *annotation.Service, tmp string) *release.Service {
	x := &exchange.Service{Annotations: ann, Images: arch, Software: "radmark " + versionString()}
	return &release.Service{Store: db, Blobs: blobs, Exchange: x, Archive: arch, Studies: db, Cases: db, Profiles: db,
		TempDir: tmp, Software: "radmark " + versionString()}
}

func releaseCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("release create", stderr)
	var st storageFlags
	st.register(fs)
	project := fs.String("project", "", "project id or name")
	split := fs.String("split", "0.7,0.15,0.15", "fractions of patients for train,validation,test")
	seed := fs.Int64("seed", 0, "seed of the split")
	stratify := fs.Bool("stratify", false, "share each label mix out in proportion")
	var revisions idList
	fs.Var(&revisions, "revision", "revision to freeze (repeatable; required without workflow cases)")
	out := fs.String("out", "", "the release archive to write: FILE.zip or FILE.tar")
	server := fs.String("server", envDefault("server", ""), "run on a radmark server (its base URL) as a background job")
	token := fs.String("token", envDefault("token", ""), "personal API token for --server; RADMARK_TOKEN")
	actor := fs.String("actor", defaultActor(), "who releases, for the audit log (offline)")
	fs.Usage = func() {
		fmt.Fprint(stderr, releaseUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	format := strings.TrimPrefix(filepath.Ext(*out), ".")
	if *out == "" || (format != "zip" && format != "tar") {
		return usageError{"--out FILE.zip or FILE.tar is required"}
	}
	if *project == "" {
		return usageError{"--project is required"}
	}
	fractions, err := release.ParseFractions(*split)
	if err != nil {
		return usageError{"--split: " + err.Error()}
	}
	req := release.Request{Revisions: revisions, Fractions: fractions, Seed: *seed, Stratify: *stratify}
	if *server != "" {
		return releaseRemote(ctx, strings.TrimRight(*server, "/"), *token, *project, req, *out, format, stdout, stderr)
	}
	env, err := openExchange(ctx, &st, *actor)
	if err != nil {
		return err
	}
	defer env.db.Close()
	if req.Project, err = env.resolveProject(ctx, *project); err != nil {
		return err
	}
	svc := newReleases(env.db, env.svc.Annotations.Blobs, env.svc.Images.(*archive.Service), env.svc.Annotations, "")
	res, err := svc.Create(ctx, env.op, req, func(done, total int, msg string) { showProgress(stderr, done, total, msg) })
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	if err := writeStreamAtomic(*out, func(w io.Writer) error { return svc.Write(ctx, res.Release.ID, format, w) }); err != nil {
		return err
	}
	printRelease(stdout, res, *out)
	return nil
}

func showProgress(w io.Writer, done, total int, msg string) {
	fmt.Fprintf(w, "\r%3d%% %-60s", 100*done/max(total, 1), msg)
}

func printRelease(w io.Writer, res *release.Result, out string) {
	r := res.Release
	state := "created"
	if res.Existed {
		state = "already existed (identical content)"
	}
	fmt.Fprintf(w, "release %s %s: %d train, %d validation, %d test cases, %d files; wrote %s\n",
		r.ID, state, r.Cases[release.Train], r.Cases[release.Validation], r.Cases[release.Test], r.Files, out)
	if res.Skipped > 0 {
		fmt.Fprintf(w, "%d workflow cases are not done and were left out\n", res.Skipped)
	}
}

// writeStreamAtomic writes path through a temporary file in the same
// folder, synced and renamed into place: the file is whole or absent.
func writeStreamAtomic(path string, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// apiClient calls a server's /api/v1.
type apiClient struct {
	server, token string
	http          *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path string, body any, out any) (*http.Response, error) {
	if body == nil {
		return c.doRaw(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.doRaw(ctx, method, path, "application/json", bytes.NewReader(b), out)
}

// doRaw sends body (of ctype) and decodes a JSON answer into out (nil:
// the caller reads and closes the response).
func (c *apiClient) doRaw(ctx context.Context, method, path, ctype string, body io.Reader, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+"/api/v1"+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var p struct{ Title, Detail string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, p.Detail)
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		defer resp.Body.Close()
		return resp, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp, nil
}

// waitJob polls a job until it ends, showing its progress.
func (c *apiClient) waitJob(ctx context.Context, j *job.Job, stderr io.Writer) (*job.Job, error) {
	for !j.Finished() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		next := &job.Job{}
		if _, err := c.do(ctx, "GET", "/jobs/"+url.PathEscape(string(j.ID)), nil, next); err != nil {
			return nil, err
		}
		j = next
		switch j.State {
		case job.Queued:
			showProgress(stderr, 0, 1, "queued")
		case job.Succeeded:
			showProgress(stderr, 1, 1, "done")
		default:
			showProgress(stderr, j.Done, j.Total, j.Message)
		}
	}
	fmt.Fprintln(stderr)
	if j.State == job.Failed {
		return nil, fmt.Errorf("job %s failed: %s", j.ID, j.Error)
	}
	return j, nil
}

func releaseRemote(ctx context.Context, server, token, project string, req release.Request, out, format string, stdout, stderr io.Writer) error {
	c := &apiClient{server: server, token: token, http: &http.Client{}}
	projectID, err := c.projectID(ctx, project)
	if err != nil {
		return err
	}
	body := map[string]any{"revisions": req.Revisions, "fractions": req.Fractions, "seed": req.Seed, "stratify": req.Stratify}
	j := &job.Job{}
	if _, err := c.do(ctx, "POST", "/projects/"+url.PathEscape(string(projectID))+"/releases", body, j); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "release job %s started\n", j.ID)
	j, err = c.waitJob(ctx, j, stderr)
	if err != nil {
		return err
	}
	var res release.Result
	if err := json.Unmarshal(j.Result, &res); err != nil || res.Release == nil {
		return fmt.Errorf("job %s: unreadable result %s", j.ID, j.Result)
	}
	resp, err := c.do(ctx, "GET", "/releases/"+res.Release.ID+"/archive?format="+format, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := writeStreamAtomic(out, func(w io.Writer) error { _, err := io.Copy(w, resp.Body); return err }); err != nil {
		return err
	}
	// What came over the network is checked like any other file.
	rep, err := release.VerifyFile(out)
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("the downloaded release does not verify (removed): %w", err)
	}
	if rep.ID != res.Release.ID {
		os.Remove(out)
		return fmt.Errorf("the server sent release %s, not %s (removed)", rep.ID, res.Release.ID)
	}
	printRelease(stdout, &res, out)
	return nil
}

func releaseVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("release verify", stderr)
	id := fs.String("id", "", "the release id the archive must have")
	fs.Usage = func() {
		fmt.Fprint(stderr, releaseUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"want one release FILE"}
	}
	rep, err := release.VerifyFile(rest[0])
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	if *id != "" && rep.ID != *id {
		return fmt.Errorf("%s: sound, but it is release %s, not %s", rest[0], rep.ID, *id)
	}
	m := rep.Manifest
	fmt.Fprintf(stdout, "%s: release %s of project %s is intact: %d files (%d bytes), %d cases, %d instances, schema version %d\n",
		rest[0], rep.ID, m.Project.Name, rep.Files, rep.Bytes, len(m.Cases), len(m.Instances), m.SchemaVersion)
	return nil
}

// projectID resolves a project id or name on the server.
func (c *apiClient) projectID(ctx context.Context, p string) (radmark.ID, error) {
	var list []*radmark.Project
	if _, err := c.do(ctx, "GET", "/projects", nil, &list); err != nil {
		return "", err
	}
	for _, pr := range list {
		if string(pr.ID) == p {
			return pr.ID, nil
		}
	}
	for _, pr := range list {
		if pr.Name == p {
			return pr.ID, nil
		}
	}
	return "", radmark.Errorf(radmark.ENOTFOUND, "the server has no project (you belong to) with id or name %q", p)
}
