package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
)

const dicomwebRoot = "/dicomweb"

// routeRegistry is where routes are registered: the server's mux, or a
// test that lists them.
type routeRegistry interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

func (s *Server) dicomwebRoutes(mux routeRegistry) {
	p := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+dicomwebRoot+path, s.guardedDICOMweb(h))
	}
	// STOW-RS
	p("POST", "/studies", s.stow)
	p("POST", "/studies/{study}", s.stow)
	// STOW-RS to a project: de-identified on the way in (authorized and
	// audited by the handler, per project).
	mux.HandleFunc("POST "+dicomwebRoot+"/projects/{project}/studies", s.projectStow)
	// QIDO-RS
	p("GET", "/studies", s.qido(radmark.StudyLevel))
	p("GET", "/series", s.qido(radmark.SeriesLevel))
	p("GET", "/instances", s.qido(radmark.InstanceLevel))
	p("GET", "/studies/{study}/series", s.qido(radmark.SeriesLevel))
	p("GET", "/studies/{study}/instances", s.qido(radmark.InstanceLevel))
	p("GET", "/studies/{study}/series/{series}/instances", s.qido(radmark.InstanceLevel))
	// WADO-RS
	p("GET", "/studies/{study}", s.retrieve)
	p("GET", "/studies/{study}/series/{series}", s.retrieve)
	p("GET", "/studies/{study}/series/{series}/instances/{instance}", s.retrieve)
	p("GET", "/studies/{study}/metadata", s.metadata)
	p("GET", "/studies/{study}/series/{series}/metadata", s.metadata)
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/metadata", s.metadata)
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}", s.frames)
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{path...}", s.bulkdata)
	p("GET", "/studies/{study}/rendered", s.rendered(false))
	p("GET", "/studies/{study}/series/{series}/rendered", s.rendered(false))
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/rendered", s.rendered(false))
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered", s.rendered(false))
	p("GET", "/studies/{study}/thumbnail", s.rendered(true))
	p("GET", "/studies/{study}/series/{series}/thumbnail", s.rendered(true))
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/thumbnail", s.rendered(true))
	p("GET", "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail", s.rendered(true))
	// WADO-URI
	p("GET", "/wado", s.wadoURI)
}

// baseURL is the absolute DICOMweb root as the client sees it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/ ,") {
		host = h
	}
	return scheme + "://" + host + dicomwebRoot
}

func pathUIDs(r *http.Request) (study, series, instance radmark.UID, err error) {
	for _, p := range []struct {
		name string
		dst  *radmark.UID
	}{{"study", &study}, {"series", &series}, {"instance", &instance}} {
		v := r.PathValue(p.name)
		if v == "" {
			continue
		}
		if len(v) > 64 || strings.Trim(v, "0123456789.") != "" {
			return "", "", "", radmark.Errorf(radmark.EINVALID, "%s UID %q in the path is not a UID", p.name, v)
		}
		*p.dst = radmark.UID(v)
	}
	return study, series, instance, nil
}

func (s *Server) qido(level radmark.Level) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !acceptsJSON(parseAccept(r.Header.Get("Accept"))) {
			writeError(w, r, s.logger(), errNotAcceptable{"QIDO-RS answers with application/dicom+json only"})
			return
		}
		study, series, _, err := pathUIDs(r)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		search, err := archive.ParseSearch(level, study, series, r.URL.Query())
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		visible, all, err := s.visibleStudies(r)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		if !all {
			if len(visible) == 0 {
				writeJSONArray(w, http.StatusOK, nil)
				return
			}
			search.Query.Filters = append(search.Query.Filters, radmark.Filter{Key: radmark.KeyStudyInstanceUID, Kind: radmark.MatchList, Values: visible})
		}
		urls := archive.URLs{Base: baseURL(r)}
		var results []archive.SearchResult
		switch level {
		case radmark.StudyLevel:
			results, err = s.Archive.SearchStudies(r.Context(), search, urls)
		case radmark.SeriesLevel:
			results, err = s.Archive.SearchSeries(r.Context(), search, urls)
		default:
			results, err = s.Archive.SearchInstances(r.Context(), search, urls)
		}
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		warnings := search.Warnings
		if search.DefaultLimit && len(results) >= search.Query.Limit {
			warnings = append(warnings, "The number of results exceeded the maximum supported by the server. Additional results can be requested.")
		}
		for _, warn := range warnings {
			w.Header().Add("Warning", `299 radmark "`+strings.ReplaceAll(warn, `"`, `'`)+`"`)
		}
		writeJSONArray(w, http.StatusOK, results)
	}
}

func writeJSONArray(w http.ResponseWriter, status int, items [][]byte) {
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(status)
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteByte(']')
	_, _ = w.Write(buf.Bytes())
}

// metadata answers WADO-RS metadata requests with every selected
// instance's DICOM JSON.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if !acceptsJSON(parseAccept(r.Header.Get("Accept"))) {
		writeError(w, r, s.logger(), errNotAcceptable{"metadata is available as application/dicom+json only"})
		return
	}
	study, series, instance, err := pathUIDs(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	instances, err := s.Archive.Select(r.Context(), study, series, instance)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	urls := archive.URLs{Base: baseURL(r)}
	items := make([][]byte, 0, len(instances))
	for _, in := range instances {
		md, err := s.Archive.Metadata(in, urls)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		items = append(items, md)
	}
	writeJSONArray(w, http.StatusOK, items)
}

// wantedSyntax is what a retrieve request asks for: a media type and a
// transfer syntax ("*" = as stored).
type wantedSyntax struct {
	multipart bool
	ts        string
}

// negotiateInstances picks the representation of a WADO-RS instance
// retrieval (PS3.18 8.7.3.5): multipart/related application/dicom, or a
// single application/dicom body. Without a transfer-syntax parameter the
// standard's default, Explicit VR Little Endian, applies.
func negotiateInstances(ranges []mediaRange, single bool) (wantedSyntax, error) {
	for _, r := range ranges {
		switch {
		case r.mediaType == "multipart/related":
			typ := r.params["type"]
			if typ != "" && typ != "application/dicom" {
				continue
			}
			return wantedSyntax{multipart: true, ts: tsParam(r)}, nil
		case r.mediaType == "application/dicom" && single:
			return wantedSyntax{ts: tsParam(r)}, nil
		case r.mediaType == "*/*" || r.mediaType == "multipart/*":
			return wantedSyntax{multipart: true, ts: "*"}, nil
		}
	}
	return wantedSyntax{}, errNotAcceptable{`instances are available as multipart/related; type="application/dicom"` + map[bool]string{true: " or application/dicom"}[single]}
}

func tsParam(r mediaRange) string {
	if ts := r.params["transfer-syntax"]; ts != "" {
		return ts
	}
	return dicom.ExplicitVRLittleEndian
}

// retrieve answers WADO-RS study, series and instance retrieval.
func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) {
	study, series, instance, err := pathUIDs(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	want, err := negotiateInstances(parseAccept(r.Header.Get("Accept")), instance != "")
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	instances, err := s.Archive.Select(r.Context(), study, series, instance)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	// Check every instance can be delivered in the wanted syntax before
	// the first byte goes out: after that no status can be sent.
	for _, in := range instances {
		if err := s.Archive.CanTranscode(in, want.ts); err != nil {
			writeError(w, r, s.logger(), errNotAcceptable{radmark.ErrorMessage(err)})
			return
		}
	}
	if !want.multipart {
		in := instances[0]
		body, ts, err := s.Archive.Encoded(r.Context(), in, want.ts)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		defer body.Close()
		w.Header().Set("Content-Type", "application/dicom; transfer-syntax="+ts)
		if _, err := io.Copy(w, body); err != nil {
			s.logger().Warn("retrieve aborted", "request_id", RequestID(r.Context()), "err", err)
		}
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	urls := archive.URLs{Base: baseURL(r)}
	for _, in := range instances {
		if err := s.writeInstancePart(r.Context(), mw, in, want.ts, urls); err != nil {
			// Headers are gone: cut the connection so the client sees a
			// failure instead of a short but well-formed response.
			s.logger().Error("retrieve failed mid-stream", "request_id", RequestID(r.Context()), "instance", in.SOPInstanceUID, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	_ = mw.Close()
}

func (s *Server) writeInstancePart(ctx context.Context, mw *multipart.Writer, in *radmark.Instance, ts string, urls archive.URLs) error {
	body, outTS, err := s.Archive.Encoded(ctx, in, ts)
	if err != nil {
		return err
	}
	defer body.Close()
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "application/dicom; transfer-syntax="+outTS)
	h.Set("Content-Location", urls.Instance(in.StudyUID, in.SeriesUID, in.SOPInstanceUID))
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(pw, body)
	return err
}

// frameMediaType is the media type PS3.18 Table 8.7.3-2 gives frames of
// a transfer syntax.
func frameMediaType(ts string) string {
	switch ts {
	case dicom.JPEGBaseline8Bit, dicom.JPEGExtended12Bit, dicom.JPEGLossless, dicom.JPEGLosslessSV1:
		return "image/jpeg"
	case dicom.JPEGLSLossless, dicom.JPEGLSNearLossless:
		return "image/jls"
	case dicom.JPEG2000Lossless, dicom.JPEG2000:
		return "image/jp2"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	case dicom.RLELossless:
		return "image/x-dicom-rle"
	}
	return "application/octet-stream"
}

// negotiateFrames decides which transfer syntax frames go out in: as
// stored when the client accepts that ("*" or the stored syntax, or its
// media type), else uncompressed if it accepts octet-stream.
func negotiateFrames(ranges []mediaRange, stored string) (string, error) {
	storedType := frameMediaType(stored)
	native := storedType == "application/octet-stream"
	for _, r := range ranges {
		mt, ts := r.mediaType, r.params["transfer-syntax"]
		if mt == "multipart/related" {
			mt = r.params["type"]
			if mt == "" {
				mt = "application/octet-stream"
			}
		}
		switch {
		case mt == "*/*" || mt == "multipart/*":
			return "*", nil
		case mt == "application/octet-stream":
			switch {
			case ts == "*":
				return "*", nil
			case ts == "" || ts == dicom.ExplicitVRLittleEndian:
				return dicom.ExplicitVRLittleEndian, nil
			case ts == stored:
				return "*", nil
			}
		case mt == storedType && !native && (ts == "" || ts == "*" || ts == stored):
			return "*", nil
		}
	}
	return "", errNotAcceptable{fmt.Sprintf("frames are stored as %s (%s); accept that or application/octet-stream", storedType, stored)}
}

// frames answers WADO-RS frame retrieval.
func (s *Server) frames(w http.ResponseWriter, r *http.Request) {
	_, _, instance, err := pathUIDs(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	study, series := radmark.UID(r.PathValue("study")), radmark.UID(r.PathValue("series"))
	sel, err := s.Archive.Select(r.Context(), study, series, instance)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	in := sel[0]
	if in.Pixel == nil {
		writeError(w, r, s.logger(), radmark.Errorf(radmark.ENOTFOUND, "instance %s has no pixel data", instance))
		return
	}
	list, err := archive.ParseFrameList(r.PathValue("frames"), in.NumberOfFrames)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	stored := string(in.TransferSyntaxUID)
	if !in.Pixel.Encapsulated {
		stored = dicom.ExplicitVRLittleEndian // native frames go out little endian
	}
	ts, err := negotiateFrames(parseAccept(r.Header.Get("Accept")), stored)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	if ts == "*" {
		ts = stored
	}
	frames := make([][]byte, len(list))
	for i, n := range list {
		if ts == stored {
			frames[i], err = s.Archive.RawFrame(r.Context(), in, n)
		} else {
			frames[i], err = s.Archive.NativeFrame(r.Context(), in, n)
		}
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
	}
	mw := multipart.NewWriter(w)
	mt := frameMediaType(ts)
	w.Header().Set("Content-Type", `multipart/related; type="`+mt+`"; boundary=`+mw.Boundary())
	urls := archive.URLs{Base: baseURL(r)}
	for i, f := range frames {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", mt+"; transfer-syntax="+ts)
		h.Set("Content-Location", urls.Instance(in.StudyUID, in.SeriesUID, in.SOPInstanceUID)+"/frames/"+strconv.Itoa(list[i]))
		pw, err := mw.CreatePart(h)
		if err == nil {
			_, err = pw.Write(f)
		}
		if err != nil {
			s.logger().Warn("frames aborted", "request_id", RequestID(r.Context()), "err", err)
			return
		}
	}
	_ = mw.Close()
}

// bulkdata answers a BulkDataURI from the metadata.
func (s *Server) bulkdata(w http.ResponseWriter, r *http.Request) {
	study, series, instance, err := pathUIDs(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	sel, err := s.Archive.Select(r.Context(), study, series, instance)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	value, err := s.Archive.BulkData(r.Context(), sel[0], r.PathValue("path"))
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	// A single octet-stream body when that is what the client prefers,
	// else the multipart/related form PS3.18 defines.
	if ranges := parseAccept(r.Header.Get("Accept")); ranges[0].mediaType == "application/octet-stream" {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(value)
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", `multipart/related; type="application/octet-stream"; boundary=`+mw.Boundary())
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "application/octet-stream")
	pw, err := mw.CreatePart(h)
	if err == nil {
		_, _ = pw.Write(value)
	}
	_ = mw.Close()
}
