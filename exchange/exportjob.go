package exchange

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/job"
)

// ExportJobPrefix starts the kind of every export job: "export.seg",
// "export.nifti", ... one kind per format, so a replica could run only
// some of them.
const ExportJobPrefix = "export."

// ExportJobKind is the kind of export jobs of a format.
func ExportJobKind(format string) string { return ExportJobPrefix + format }

// ExportKey is the blob an export job's file is stored in.
func ExportKey(jobID radmark.ID) string { return "exports/" + string(jobID) + "/export" }

// Exports runs export jobs: the export is written to a temporary file (a
// folder export to a temporary folder, then a tar of it) and stored in
// the blob store under ExportKey, where any replica serves it.
type Exports struct {
	Exchange *Service
	Blobs    radmark.BlobStore
	// TempDir receives the staging files ("" = the system's).
	TempDir string
	// Keep is how long an export job's file is kept after the job
	// finished (0: forever); see Retention.
	Keep time.Duration
}

// Retention deletes the files of export jobs finished more than x.Keep
// ago (nil when x.Keep is 0: files are kept forever); run it on every
// replica. Only export files are deleted: releases are immutable and kept.
func (x *Exports) Retention(jobs job.Store, log *slog.Logger) *job.Retention {
	if x.Keep <= 0 {
		return nil
	}
	kinds := make([]string, 0, len(ExportFormats))
	for _, f := range ExportFormats {
		kinds = append(kinds, ExportJobKind(f))
	}
	return &job.Retention{Store: jobs, Kinds: kinds, Keep: x.Keep, Logger: log,
		Delete: func(ctx context.Context, j *job.Job) error { return x.Blobs.Delete(ctx, ExportKey(j.ID)) }}
}

// Handlers returns the job handler of every export format by kind.
func (x *Exports) Handlers() map[string]job.Handler {
	hs := map[string]job.Handler{}
	for _, f := range ExportFormats {
		hs[ExportJobKind(f)] = x.RunJob
	}
	return hs
}

// RunJob is the job.Handler of export jobs: the job's parameters are an
// ExportRequest (its format the job kind's), its project the job's, its
// result an ExportResult.
func (x *Exports) RunJob(ctx context.Context, j *job.Job, progress job.Progress) (json.RawMessage, error) {
	var req ExportRequest
	if err := json.Unmarshal(j.Params, &req); err != nil {
		return nil, radmark.Errorf(radmark.EINVALID, "export job parameters: %v", err)
	}
	req.Format = strings.TrimPrefix(j.Kind, ExportJobPrefix)
	op := annotation.Op{Actor: j.CreatedBy}
	progress(0, 3, "exporting "+req.Format)
	tmp, err := os.MkdirTemp(x.TempDir, "radmark-export-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "export")
	var res *ExportResult
	if IsFolderFormat(req.Format) {
		dir := filepath.Join(tmp, "folder")
		if res, err = x.Exchange.ExportFolder(ctx, op, j.ProjectID, req, dir); err != nil {
			return nil, err
		}
		progress(1, 3, "packing "+res.Name)
		err = writeFileWith(file, func(w io.Writer) error { return WriteFolderTar(w, dir, res.Name, j.CreatedAt) })
	} else {
		err = writeFileWith(file, func(w io.Writer) error {
			var err error
			res, err = x.Exchange.ExportFile(ctx, op, j.ProjectID, req, w)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	progress(2, 3, "storing "+res.Name)
	if res.Size, res.SHA256, err = x.store(ctx, ExportKey(j.ID), file); err != nil {
		return nil, err
	}
	progress(3, 3, "done")
	return json.Marshal(res)
}

// store puts a file into the blob store, returning its size and sha256.
func (x *Exports) store(ctx context.Context, key, name string) (int64, string, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	if _, err := x.Blobs.Put(ctx, key, io.TeeReader(f, h), st.Size()); err != nil {
		return 0, "", fmt.Errorf("store the export: %w", err)
	}
	return st.Size(), hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileWith creates name and writes it with write.
func writeFileWith(name string, write func(w io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteFolderTar writes the folder dir as a tar whose entries lie under
// top/, in path order, with time at and no owner: the same folder gives
// the same bytes.
func WriteFolderTar(w io.Writer, dir, top string, at time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join(top, filepath.ToSlash(rel))
		hdr := &tar.Header{Name: name, ModTime: at.UTC(), Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
			return tw.WriteHeader(hdr)
		case !d.Type().IsRegular():
			return fmt.Errorf("export folder: %s is not a regular file", rel)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// ExtractFolderTar unpacks a tar written by WriteFolderTar into dir, which
// must not exist: it is unpacked into a temporary folder beside dir and
// renamed into place, so dir appears whole or not at all. Only folders
// and regular files inside the tar's one top folder are accepted.
func ExtractFolderTar(r io.Reader, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return radmark.Errorf(radmark.ECONFLICT, "%s already exists; an export goes to a new folder", dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	tr := tar.NewReader(r)
	top := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return radmark.WrapError(radmark.EINVALID, err, "read the export tar")
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		first, rest, _ := strings.Cut(name, "/")
		if top == "" {
			top = first
		}
		if first != top || !fs.ValidPath(name) {
			return radmark.Errorf(radmark.EINVALID, "export tar entry %q is outside its folder %q", hdr.Name, top)
		}
		target := filepath.Join(tmp, filepath.FromSlash(rest))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFileWith(target, func(w io.Writer) error { _, err := io.Copy(w, tr); return err }); err != nil {
				return err
			}
		default:
			return radmark.Errorf(radmark.EINVALID, "export tar entry %q is not a file or folder", hdr.Name)
		}
	}
	if top == "" {
		return radmark.Errorf(radmark.EINVALID, "the export tar is empty")
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
