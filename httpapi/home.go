package httpapi

import (
	"html/template"
	"net/http"
)

// homePage is served at / until the web UI is embedded: it says what is
// running and how to connect a viewer.
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>radmark</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:3em auto;padding:0 1em;color:#1d2433}
code{background:#eef1f6;padding:.1em .3em;border-radius:3px}td{padding:.2em 1em .2em 0}</style></head>
<body><h1>radmark</h1>
<p>DICOM archive with DICOMweb. Version {{.Version}}.</p>
<table><tr><td>Studies</td><td>{{.Studies}}</td></tr><tr><td>Series</td><td>{{.Series}}</td></tr><tr><td>Instances</td><td>{{.Instances}}</td></tr></table>
<h2>Connect a viewer</h2>
<p>DICOMweb root: <code>{{.Root}}</code> (QIDO-RS, WADO-RS, STOW-RS; WADO-URI at <code>{{.Root}}/wado</code>).
Point OHIF, 3D Slicer's DICOMweb browser or <code>dicomweb-client</code> at it.</p>
<p>Load files: <code>radmark ingest --server {{.Server}} PATH...</code></p>
</body></html>`))

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/status" {
		writeError(w, r, s.logger(), errNotFound(r.URL.Path))
		return
	}
	if s.enforcing() {
		if _, err := requireActor(r); err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
	}
	studies, series, instances, err := s.Archive.Store.Counts(r.Context())
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	root := baseURL(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, map[string]any{
		"Version": s.Version, "Studies": studies, "Series": series, "Instances": instances,
		"Root": root, "Server": root[:len(root)-len(dicomwebRoot)],
	})
}
