package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
)

// wadoURI answers WADO-URI (PS3.18 9): requestType=WADO&studyUID=&seriesUID=
// &objectUID=, as application/dicom or a rendered image/jpeg (the default)
// or image/png.
func (s *Server) wadoURI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("requestType") != "WADO" {
		writeError(w, r, s.logger(), radmark.Errorf(radmark.EINVALID, "requestType must be WADO"))
		return
	}
	var uids [3]radmark.UID
	for i, name := range []string{"studyUID", "seriesUID", "objectUID"} {
		v := q.Get(name)
		if v == "" || len(v) > 64 || strings.Trim(v, "0123456789.") != "" {
			writeError(w, r, s.logger(), radmark.Errorf(radmark.EINVALID, "%s is missing or not a UID", name))
			return
		}
		uids[i] = radmark.UID(v)
	}
	sel, err := s.Archive.Select(r.Context(), uids[0], uids[1], uids[2])
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	in := sel[0]
	contentType := "image/jpeg"
	if ct := q.Get("contentType"); ct != "" {
		contentType = ""
		for _, c := range strings.Split(ct, ",") {
			c = strings.TrimSpace(strings.SplitN(c, ";", 2)[0])
			if c == "application/dicom" || c == "image/jpeg" || c == "image/png" || c == "*/*" {
				contentType = c
				break
			}
		}
		if contentType == "" {
			writeError(w, r, s.logger(), errNotAcceptable{"contentType must be application/dicom, image/jpeg or image/png"})
			return
		}
		if contentType == "*/*" {
			contentType = "image/jpeg"
		}
	}
	if contentType == "application/dicom" {
		ts := q.Get("transferSyntax")
		if ts == "" {
			// PS3.18 9.1.2.4: without transferSyntax the object goes out
			// in Explicit VR Little Endian.
			ts = dicom.ExplicitVRLittleEndian
		}
		if err := s.Archive.CanTranscode(in, ts); err != nil {
			writeError(w, r, s.logger(), errNotAcceptable{radmark.ErrorMessage(err)})
			return
		}
		body, _, err := s.Archive.Encoded(r.Context(), in, ts)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		defer body.Close()
		w.Header().Set("Content-Type", "application/dicom")
		_, _ = io.Copy(w, body)
		return
	}
	opts := archive.RenderOptions{}
	if v := q.Get("frameNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max(in.NumberOfFrames, 1) {
			writeError(w, r, s.logger(), radmark.Errorf(radmark.EINVALID, "frameNumber %q is not a frame of this instance", v))
			return
		}
		opts.Frame = n
	}
	if c, wd := q.Get("windowCenter"), q.Get("windowWidth"); c != "" || wd != "" {
		win, err := parseWindow(c + "," + wd)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		opts.Window = win
	}
	for _, d := range []struct {
		name string
		dst  *int
	}{{"columns", &opts.MaxWidth}, {"rows", &opts.MaxHeight}} {
		if v := q.Get(d.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 8192 {
				writeError(w, r, s.logger(), radmark.Errorf(radmark.EINVALID, "%s %q is not a size in pixels", d.name, v))
				return
			}
			*d.dst = n
		}
	}
	quality := 90
	if v := q.Get("imageQuality"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 100 {
			quality = n
		}
	}
	img, err := s.Archive.Rendered(r.Context(), in, opts)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	writeImage(w, img, contentType, quality)
}
