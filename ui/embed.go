// Package ui owns radmark's web application: a React + Cornerstone3D app
// built by Vite from this directory (see README.md) and embedded in the Go
// binary. Handler serves it.
//
// dist/ holds two things: placeholder.html, committed, and app/, the Vite
// build output (git-ignored). A plain `go build` of a fresh clone therefore
// compiles and serves the placeholder, which says how to build the UI; after
// `make build` the binary embeds and serves the app. The build never touches
// the committed file, so `git status` stays clean.
package ui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the embedded web app: its files, and index.html for every
// other path that does not look like a file (the app routes itself).
// Content-hashed files under /assets/ are cached for a year; index.html and
// everything else must be revalidated. Without a built app it serves the
// placeholder page.
func Handler() http.Handler {
	app, err := fs.Sub(dist, "dist/app")
	if err == nil {
		if _, err = fs.Stat(app, "index.html"); err == nil {
			return NewHandler(app)
		}
	}
	page, _ := dist.ReadFile("dist/placeholder.html")
	return placeholder(page)
}

// Built reports whether the binary embeds a built app (not the placeholder).
func Built() bool {
	_, err := fs.Stat(dist, "dist/app/index.html")
	return err == nil
}

func placeholder(page []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(page))
	})
}

// NewHandler serves a built app from fsys, whose root holds index.html.
func NewHandler(fsys fs.FS) http.Handler {
	return &handler{fsys: fsys}
}

type handler struct {
	fsys fs.FS
	gz   sync.Map // file name -> []byte, gzip of compressible files
}

// types that mime.TypeByExtension may not know on every system.
var types = map[string]string{
	".wasm": "application/wasm",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".json": "application/json",
	".map":  "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := types[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func knownExt(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return false
	}
	_, ok := types[ext]
	return ok || mime.TypeByExtension(ext) != ""
}

func compressible(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".mjs", ".css", ".html", ".json", ".map", ".svg", ".wasm", ".txt":
		return true
	}
	return false
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	data, err := fs.ReadFile(h.fsys, name)
	if err != nil {
		// A path under assets/ or with a file type's extension names a
		// file: a missing one is a 404, not the app (a stale cached
		// index.html asking for an old chunk must fail loudly, not get HTML
		// as JavaScript). App routes hold DICOM UIDs, whose dots are no
		// extension.
		if strings.HasPrefix(name, "assets/") || knownExt(name) {
			http.NotFound(w, r)
			return
		}
		name = "index.html"
		if data, err = fs.ReadFile(h.fsys, name); err != nil {
			http.Error(w, "index.html missing from the embedded app", http.StatusInternalServerError)
			return
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType(name))
	hdr.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(name, "assets/") {
		// Vite names every file under assets/ by its content hash.
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if compressible(name) && len(data) > 1024 {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			data = h.gzipped(name, data)
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	// The embedded files have no modification time; ServeContent still
	// handles Range and HEAD. ETags are not needed: hashed assets are
	// immutable and index.html is small.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			return !strings.Contains(strings.ReplaceAll(q, " ", ""), "q=0") || strings.Contains(q, "q=0.")
		}
	}
	return false
}

// gzipped compresses a file once and keeps the result: the embedded files
// never change while the process runs.
func (h *handler) gzipped(name string, data []byte) []byte {
	if v, ok := h.gz.Load(name); ok {
		return v.([]byte)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = io.Copy(zw, bytes.NewReader(data))
	_ = zw.Close()
	v, _ := h.gz.LoadOrStore(name, buf.Bytes())
	return v.([]byte)
}
