package httpapi

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/render"
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// renderedType picks PNG or JPEG from the Accept header.
func renderedType(ranges []mediaRange) (string, error) {
	for _, r := range ranges {
		switch {
		case r.mediaType == "image/png":
			return "image/png", nil
		case r.mediaType == "image/jpeg" || r.matches("image/jpeg"):
			return "image/jpeg", nil
		}
	}
	return "", errNotAcceptable{"rendered images are available as image/jpeg or image/png"}
}

// parseWindow reads window=center,width[,function] (PS3.18 8.3.5.1.4).
func parseWindow(v string) (*render.Window, error) {
	if v == "" {
		return nil, nil
	}
	p := strings.Split(v, ",")
	if len(p) < 2 {
		return nil, radmark.Errorf(radmark.EINVALID, "window %q: want center,width[,function]", v)
	}
	c, err1 := strconv.ParseFloat(strings.TrimSpace(p[0]), 64)
	wd, err2 := strconv.ParseFloat(strings.TrimSpace(p[1]), 64)
	if err1 != nil || err2 != nil || wd <= 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "window %q: center and a positive width are numbers", v)
	}
	w := &render.Window{Center: c, Width: wd}
	if len(p) > 2 {
		w.Function = strings.ToUpper(strings.TrimSpace(p[2]))
		if w.Function != "LINEAR" && w.Function != "LINEAR_EXACT" && w.Function != "SIGMOID" {
			return nil, radmark.Errorf(radmark.EINVALID, "window function %q: want linear, linear-exact or sigmoid", p[2])
		}
	}
	return w, nil
}

// parseViewport reads viewport=width,height.
func parseViewport(v string) (int, int, error) {
	if v == "" {
		return 0, 0, nil
	}
	p := strings.Split(v, ",")
	w, err1 := strconv.Atoi(strings.TrimSpace(p[0]))
	h := w
	var err2 error
	if len(p) > 1 {
		h, err2 = strconv.Atoi(strings.TrimSpace(p[1]))
	}
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > 8192 || h > 8192 {
		return 0, 0, radmark.Errorf(radmark.EINVALID, "viewport %q: want width,height in pixels", v)
	}
	return w, h, nil
}

// rendered answers WADO-RS rendered and thumbnail requests. Study and
// series resources render their representative image: the middle instance
// of the (first) series, middle frame.
func (s *Server) rendered(thumbnail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		study, series, instance, err := pathUIDs(r)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		mt, err := renderedType(parseAccept(r.Header.Get("Accept")))
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		q := r.URL.Query()
		opts := archive.RenderOptions{}
		if opts.Window, err = parseWindow(q.Get("window")); err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		if opts.MaxWidth, opts.MaxHeight, err = parseViewport(q.Get("viewport")); err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		if thumbnail && opts.MaxWidth == 0 {
			opts.MaxWidth, opts.MaxHeight = 128, 128
		}
		quality := 90
		if v := q.Get("quality"); v != "" {
			if quality, err = strconv.Atoi(v); err != nil || quality < 1 || quality > 100 {
				writeError(w, r, s.logger(), radmark.Errorf(radmark.EINVALID, "quality %q: want 1..100", v))
				return
			}
		}
		in, err := s.representative(r, study, series, instance)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		if fr := r.PathValue("frames"); fr != "" {
			list, err := archive.ParseFrameList(fr, in.NumberOfFrames)
			if err != nil {
				writeError(w, r, s.logger(), err)
				return
			}
			opts.Frame = list[0]
		}
		img, err := s.Archive.Rendered(r.Context(), in, opts)
		if err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		writeImage(w, img, mt, quality)
	}
}

func (s *Server) representative(r *http.Request, study, series, instance radmark.UID) (*radmark.Instance, error) {
	sel, err := s.Archive.Select(r.Context(), study, series, instance)
	if err != nil {
		return nil, err
	}
	if instance != "" {
		return sel[0], nil
	}
	// The first series with pixel data; its middle image.
	var withPixels []*radmark.Instance
	for _, in := range sel {
		if in.Pixel == nil {
			continue
		}
		if len(withPixels) > 0 && withPixels[0].SeriesUID != in.SeriesUID {
			break
		}
		withPixels = append(withPixels, in)
	}
	if len(withPixels) == 0 {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "nothing with pixel data to render")
	}
	return withPixels[len(withPixels)/2], nil
}

func writeImage(w http.ResponseWriter, img image.Image, mediaType string, quality int) {
	var buf bytes.Buffer
	if mediaType == "image/png" {
		_ = png.Encode(&buf, img)
	} else {
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality})
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}
