package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
)

// input is one object to ingest: a file, or an entry of a .zip.
type input struct {
	name string
	size int64
	open func() (io.ReaderAt, func(), error)
}

// ingestTally counts outcomes for the summary.
type ingestTally struct {
	stored, duplicate, replaced int
	rejected                    []string
}

func (t *ingestTally) add(name string, status radmark.PutStatus, err error) {
	switch {
	case err != nil:
		t.rejected = append(t.rejected, fmt.Sprintf("%s: %s", name, radmark.ErrorMessage(err)))
	case status == radmark.PutDuplicate:
		t.duplicate++
	case status == radmark.PutReplaced:
		t.replaced++
	default:
		t.stored++
	}
}

func ingestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ingest", stderr)
	var st storageFlags
	st.register(fs)
	server := fs.String("server", envDefault("server", ""), "send to a running radmark (its base URL) over STOW-RS instead of writing the data directory")
	token := fs.String("token", envDefault("token", ""), "personal API token for --server (radmark token create NAME); RADMARK_TOKEN")
	overwrite := fs.Bool("overwrite", false, "replace instances stored with different content instead of refusing them")
	quiet := fs.Bool("quiet", false, "no progress bar")
	logLevel := fs.String("log-level", envDefault("log-level", "warn"), "log level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: radmark ingest [--data DIR | --server URL [--token TOKEN]] [--overwrite] PATH...\n\nPATH may be a DICOM file, a folder (read recursively) or a .zip archive.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError{"no PATH given"}
	}
	inputs, err := collectInputs(fs.Args())
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		return usageError{"no files found under the given paths"}
	}
	bar := progressbar.NewOptions(len(inputs),
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("ingesting"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetVisibility(!*quiet),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish())
	var tally ingestTally
	if *server != "" {
		err = ingestRemote(ctx, strings.TrimRight(*server, "/"), *token, inputs, *overwrite, &tally, bar)
	} else {
		var log = newDiscardLogger()
		if l, lerr := newLogger(stderr, *logLevel); lerr == nil {
			log = l
		}
		db, blobs, oerr := openStorage(ctx, &st)
		if oerr != nil {
			return oerr
		}
		defer db.Close()
		svc := newArchive(db, blobs, log)
		err = ingestLocal(ctx, svc, inputs, *overwrite, &tally, bar)
	}
	_ = bar.Finish()
	fmt.Fprintf(stdout, "stored %d, duplicate %d, replaced %d, rejected %d (of %d)\n",
		tally.stored, tally.duplicate, tally.replaced, len(tally.rejected), len(inputs))
	for _, r := range tally.rejected {
		fmt.Fprintf(stdout, "  rejected %s\n", r)
	}
	if err != nil {
		return err
	}
	if len(tally.rejected) > 0 {
		return exitError(1)
	}
	return nil
}

// collectInputs expands paths: folders recursively (in name order), .zip
// archives into their entries.
func collectInputs(paths []string) ([]input, error) {
	var out []input
	addFile := func(path string, size int64) error {
		if strings.EqualFold(filepath.Ext(path), ".zip") {
			entries, err := zipInputs(path)
			if err != nil {
				return err
			}
			out = append(out, entries...)
			return nil
		}
		out = append(out, input{name: path, size: size, open: func() (io.ReaderAt, func(), error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, nil, err
			}
			return f, func() { f.Close() }, nil
		}})
		return nil
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		if !info.IsDir() {
			if err := addFile(p, info.Size()); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return addFile(path, fi.Size())
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func zipInputs(path string) ([]input, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []input
	files := append([]*zip.File(nil), zr.File...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, zf := range files {
		if zf.FileInfo().IsDir() {
			continue
		}
		zf := zf
		out = append(out, input{name: path + "!/" + zf.Name, size: int64(zf.UncompressedSize64), open: func() (io.ReaderAt, func(), error) {
			if zf.UncompressedSize64 > 4<<30 {
				return nil, nil, radmark.Errorf(radmark.ETOOLARGE, "zip entry of %d bytes is too large", zf.UncompressedSize64)
			}
			rc, err := zf.Open()
			if err != nil {
				return nil, nil, err
			}
			defer rc.Close()
			b, err := io.ReadAll(io.LimitReader(rc, int64(zf.UncompressedSize64)+1))
			if err != nil {
				return nil, nil, err
			}
			return bytes.NewReader(b), func() {}, nil
		}})
	}
	// The zip reader stays open for the life of the command.
	return out, nil
}

const ingestBatch = 32

func ingestLocal(ctx context.Context, svc *archive.Service, inputs []input, overwrite bool, tally *ingestTally, bar *progressbar.ProgressBar) error {
	for start := 0; start < len(inputs); start += ingestBatch {
		batch := inputs[start:min(start+ingestBatch, len(inputs))]
		var sources []archive.Source
		var names []string
		var cleanups []func()
		for _, in := range batch {
			r, cleanup, err := in.open()
			if err != nil {
				tally.add(in.name, 0, radmark.WrapError(radmark.EINVALID, err, err.Error()))
				continue
			}
			cleanups = append(cleanups, cleanup)
			sources = append(sources, archive.Source{Name: in.name, Data: r, Size: in.size})
			names = append(names, in.name)
		}
		results, err := svc.Ingest(ctx, sources, archive.IngestOptions{Overwrite: overwrite})
		for _, c := range cleanups {
			c()
		}
		if err != nil {
			return err
		}
		for i, res := range results {
			tally.add(names[i], res.Status, res.Err)
		}
		_ = bar.Add(len(batch))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// ingestRemote sends batches of files to a server with STOW-RS.
func ingestRemote(ctx context.Context, server, token string, inputs []input, overwrite bool, tally *ingestTally, bar *progressbar.ProgressBar) error {
	url := server + "/dicomweb/studies"
	if overwrite {
		url += "?overwrite=true"
	}
	client := &http.Client{}
	for start := 0; start < len(inputs); start += ingestBatch {
		batch := inputs[start:min(start+ingestBatch, len(inputs))]
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			for _, in := range batch {
				h := textproto.MIMEHeader{}
				h.Set("Content-Type", "application/dicom")
				part, err := mw.CreatePart(h)
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				r, cleanup, err := in.open()
				if err != nil {
					pw.CloseWithError(fmt.Errorf("%s: %w", in.name, err))
					return
				}
				_, err = io.Copy(part, io.NewSectionReader(r, 0, in.size))
				cleanup()
				if err != nil {
					pw.CloseWithError(fmt.Errorf("%s: %w", in.name, err))
					return
				}
			}
			pw.CloseWithError(mw.Close())
		}()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
		req.Header.Set("Accept", "application/dicom+json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("STOW-RS to %s: %w", url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusAccepted, http.StatusConflict:
		default:
			return fmt.Errorf("STOW-RS to %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		if err := tallyStowResponse(body, batch, tally); err != nil {
			return err
		}
		_ = bar.Add(len(batch))
	}
	return nil
}

// tallyStowResponse reads a STOW-RS response and maps failures back to the
// files of the batch through the "part N" in their comments.
func tallyStowResponse(body []byte, batch []input, tally *ingestTally) error {
	var resp map[string]struct {
		Value []map[string]struct {
			Value []json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("STOW-RS response does not parse: %w", err)
	}
	comment := func(item map[string]struct{ Value []json.RawMessage }) string {
		if c, ok := item["00000902"]; ok && len(c.Value) > 0 {
			var s string
			_ = json.Unmarshal(c.Value[0], &s)
			return s
		}
		return ""
	}
	for _, item := range resp["00081199"].Value {
		if strings.HasPrefix(comment(item), "duplicate") {
			tally.duplicate++
		} else {
			tally.stored++
		}
	}
	for _, item := range resp["00081198"].Value {
		c := comment(item)
		name := "?"
		if rest, ok := strings.CutPrefix(c, "part "); ok {
			if num, msg, ok := strings.Cut(rest, ": "); ok {
				if n, err := strconv.Atoi(num); err == nil && n >= 1 && n <= len(batch) {
					name, c = batch[n-1].name, msg
				}
			}
		}
		tally.rejected = append(tally.rejected, name+": "+c)
	}
	return nil
}
