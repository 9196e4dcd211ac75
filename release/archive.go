package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/radmark/radmark"
)

// Limits of the archive reader, which reads files from anywhere.
const (
	maxManifest = 256 << 20 // bytes of manifest.json
	maxEntries  = 1 << 20   // entries of an archive
)

// WriteTar writes a release archive: the top folder, manifest.json, then
// every file of the manifest read from dir (where path p is
// dir/p), each checked against its size and sha256 while it is copied.
// Entries carry the manifest's FrozenAt as their time and no owner, so the
// same release always gives the same bytes.
func WriteTar(w io.Writer, id string, manifest []byte, files []File, dir string, at time.Time) error {
	tw := tar.NewWriter(w)
	top := Folder(id)
	hdr := func(name string, size int64, typ byte, mode int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Size: size, Mode: mode, ModTime: at.UTC(), Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(top+"/", 0, tar.TypeDir, 0o755)); err != nil {
		return err
	}
	if err := tw.WriteHeader(hdr(top+"/"+ManifestName, int64(len(manifest)), tar.TypeReg, 0o644)); err != nil {
		return err
	}
	if _, err := tw.Write(manifest); err != nil {
		return err
	}
	written := map[string]bool{}
	for _, f := range files {
		if err := CheckPath(f.Path); err != nil {
			return err
		}
		// Parents first, in the order files need them.
		var parents []string
		for d := filepath.ToSlash(filepath.Dir(f.Path)); d != "." && !written[d]; d = filepath.ToSlash(filepath.Dir(d)) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			written[d] = true
			if err := tw.WriteHeader(hdr(top+"/"+d+"/", 0, tar.TypeDir, 0o755)); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(hdr(top+"/"+f.Path, f.Size, tar.TypeReg, 0o644)); err != nil {
			return err
		}
		if err := copyChecked(tw, filepath.Join(dir, filepath.FromSlash(f.Path)), f); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyChecked(w io.Writer, name string, f File) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), in)
	if err != nil {
		return err
	}
	if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("release file %s changed while it was archived", f.Path)
	}
	return nil
}

// TarToZip copies a release archive from tar to zip form, entry by entry
// (already compressed files are stored, others deflated).
func TarToZip(r io.Reader, w io.Writer) error {
	tr := tar.NewReader(r)
	zw := zip.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read release archive: %w", err)
		}
		fh := &zip.FileHeader{Name: h.Name, Modified: h.ModTime.UTC(), Method: zip.Deflate}
		switch h.Typeflag {
		case tar.TypeDir:
			fh.Method = zip.Store
			fh.SetMode(0o755 | os.ModeDir)
		case tar.TypeReg:
			fh.SetMode(0o644)
			if strings.HasSuffix(h.Name, ".gz") {
				fh.Method = zip.Store
			}
		default:
			return fmt.Errorf("release archive: entry %s is neither a file nor a folder", h.Name)
		}
		fw, err := zw.CreateHeader(fh)
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(fw, tr); err != nil {
				return err
			}
		}
	}
	return zw.Close()
}

// Report is what Verify found in a sound release archive.
type Report struct {
	ID       string
	Manifest *Manifest
	Files    int
	Bytes    int64
}

// entry is one file of an archive being verified.
type entry struct {
	name string
	open func() (io.ReadCloser, error)
	size int64
}

// Verify checks a release archive (.tar or .zip, told apart by content):
// one top folder release-<id>, a manifest.json whose sha256 is that id,
// and exactly the files the manifest lists, each with its size and
// sha256. Any difference is an EINVALID error naming the file.
func Verify(r io.ReaderAt, size int64) (*Report, error) {
	var magic [262]byte
	n, _ := r.ReadAt(magic[:], 0)
	switch {
	case n >= 4 && bytes.Equal(magic[:4], []byte("PK\x03\x04")) || n >= 4 && bytes.Equal(magic[:4], []byte("PK\x05\x06")):
		zr, err := zip.NewReader(r, size)
		if err != nil {
			return nil, radmark.WrapError(radmark.EINVALID, err, "read release zip")
		}
		if len(zr.File) > maxEntries {
			return nil, radmark.Errorf(radmark.EINVALID, "release zip has %d entries, more than %d", len(zr.File), maxEntries)
		}
		var entries []entry
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, "/") {
				continue
			}
			if !f.Mode().IsRegular() {
				return nil, radmark.Errorf(radmark.EINVALID, "release zip entry %s is not a regular file", f.Name)
			}
			entries = append(entries, entry{name: f.Name, open: f.Open, size: int64(f.UncompressedSize64)})
		}
		return verifyEntries(entries)
	case n >= 262 && bytes.Equal(magic[257:262], []byte("ustar")):
		return verifyTar(io.NewSectionReader(r, 0, size))
	}
	return nil, radmark.Errorf(radmark.EINVALID, "not a release archive: neither a zip nor a tar file")
}

// verifyTar reads a tar archive twice at most: entries are hashed as they
// stream past, with the manifest read whenever it comes.
func verifyTar(r io.ReadSeeker) (*Report, error) {
	tr := tar.NewReader(r)
	var entries []entry
	sums := map[string]string{}
	var manifest []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, radmark.WrapError(radmark.EINVALID, err, "read release tar")
		}
		if len(entries) >= maxEntries {
			return nil, radmark.Errorf(radmark.EINVALID, "release tar has more than %d entries", maxEntries)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, radmark.Errorf(radmark.EINVALID, "release tar entry %s is not a regular file", h.Name)
		}
		if strings.HasSuffix(h.Name, "/"+ManifestName) && strings.Count(h.Name, "/") == 1 {
			if h.Size > maxManifest {
				return nil, radmark.Errorf(radmark.EINVALID, "%s is %d bytes, more than a manifest may be", h.Name, h.Size)
			}
			if manifest, err = io.ReadAll(tr); err != nil {
				return nil, radmark.WrapError(radmark.EINVALID, err, "read "+h.Name)
			}
			sum := sha256.Sum256(manifest)
			sums[h.Name] = hex.EncodeToString(sum[:])
		} else {
			hw := sha256.New()
			n, err := io.Copy(hw, tr)
			if err != nil {
				return nil, radmark.WrapError(radmark.EINVALID, err, "read "+h.Name)
			}
			if n != h.Size {
				return nil, radmark.Errorf(radmark.EINVALID, "release tar entry %s is truncated", h.Name)
			}
			sums[h.Name] = hex.EncodeToString(hw.Sum(nil))
		}
		name, data, size := h.Name, manifest, h.Size
		entries = append(entries, entry{name: name, size: size, open: func() (io.ReadCloser, error) {
			if strings.HasSuffix(name, "/"+ManifestName) && strings.Count(name, "/") == 1 {
				return io.NopCloser(bytes.NewReader(data)), nil
			}
			return nil, errHashed{sums[name]}
		}})
	}
	return verifyEntries(entries)
}

// errHashed hands a sum computed while streaming to verifyEntries.
type errHashed struct{ sum string }

func (errHashed) Error() string { return "already hashed" }

func verifyEntries(entries []entry) (*Report, error) {
	if len(entries) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the release archive is empty")
	}
	top, _, _ := strings.Cut(entries[0].name, "/")
	id, ok := strings.CutPrefix(top, "release-")
	if !ok || !IsID(id) {
		return nil, radmark.Errorf(radmark.EINVALID, "the release archive's top folder is %q, not release-<64 hex digits of the release id>", top)
	}
	byPath := map[string]entry{}
	for _, e := range entries {
		rel, ok := strings.CutPrefix(e.name, top+"/")
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "release archive entry %s lies outside its folder %s", e.name, top)
		}
		if err := CheckPath(rel); err != nil {
			return nil, radmark.WrapError(radmark.EINVALID, err, "release archive")
		}
		if _, dup := byPath[rel]; dup {
			return nil, radmark.Errorf(radmark.EINVALID, "release archive holds %s twice", rel)
		}
		byPath[rel] = e
	}
	me, ok := byPath[ManifestName]
	if !ok {
		return nil, radmark.Errorf(radmark.EINVALID, "the release archive has no %s", ManifestName)
	}
	if me.size > maxManifest {
		return nil, radmark.Errorf(radmark.EINVALID, "%s is %d bytes, more than a manifest may be", ManifestName, me.size)
	}
	raw, err := readAll(me, maxManifest)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != id {
		return nil, radmark.Errorf(radmark.EINVALID, "%s was changed: its sha256 is %s, but the release id (the archive's folder %s) says %s", ManifestName, got, top, id)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "decode "+ManifestName)
	}
	if m.Format != Format {
		return nil, radmark.Errorf(radmark.EINVALID, "%s has format %q; this radmark reads %q", ManifestName, m.Format, Format)
	}
	rep := &Report{ID: id, Manifest: &m}
	listed := map[string]bool{ManifestName: true}
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return nil, radmark.WrapError(radmark.EINVALID, err, ManifestName)
		}
		if listed[f.Path] {
			return nil, radmark.Errorf(radmark.EINVALID, "%s lists %s twice", ManifestName, f.Path)
		}
		listed[f.Path] = true
		e, ok := byPath[f.Path]
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "file %s is missing from the release archive", f.Path)
		}
		got, n, err := hashEntry(e)
		if err != nil {
			return nil, err
		}
		if n != f.Size || got != f.SHA256 {
			return nil, radmark.Errorf(radmark.EINVALID, "file %s is corrupted: %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s", f.Path, n, got, f.Size, f.SHA256)
		}
		rep.Files++
		rep.Bytes += n
	}
	for p := range byPath {
		if !listed[p] {
			return nil, radmark.Errorf(radmark.EINVALID, "file %s is in the release archive but not in its manifest", p)
		}
	}
	return rep, nil
}

func readAll(e entry, limit int64) ([]byte, error) {
	rc, err := e.open()
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "open "+e.name)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "read "+e.name)
	}
	if int64(len(b)) > limit {
		return nil, radmark.Errorf(radmark.EINVALID, "%s is larger than %d bytes", e.name, limit)
	}
	return b, nil
}

func hashEntry(e entry) (string, int64, error) {
	rc, err := e.open()
	var done errHashed
	if errors.As(err, &done) {
		return done.sum, e.size, nil
	}
	if err != nil {
		return "", 0, radmark.WrapError(radmark.EINVALID, err, "open "+e.name)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", 0, radmark.WrapError(radmark.EINVALID, err, "read "+e.name)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// VerifyFile verifies the release archive in a file.
func VerifyFile(name string) (*Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Verify(f, st.Size())
}
