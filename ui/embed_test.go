package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	js := strings.Repeat("console.log(1);", 200)
	fsys := fstest.MapFS{
		"index.html":                    {Data: []byte("<!doctype html><div id=root></div>")},
		"favicon.svg":                   {Data: []byte("<svg/>")},
		"assets/index-AbC123.js":        {Data: []byte(js)},
		"assets/decodewasm-XyZ.wasm":    {Data: []byte("\x00asm\x01\x00\x00\x00")},
		"assets/_virtual-chunk-Q1w2.js": {Data: []byte("export{}")},
	}
	h := NewHandler(fsys)
	tests := []struct {
		method, path, acceptEncoding string
		status                       int
		contentType, cacheControl    string
		body                         string // prefix; "" = not checked
		gzip                         bool
	}{
		{"GET", "/", "", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>", false},
		{"GET", "/index.html", "", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>", false},
		// App routes get index.html (SPA fallback).
		{"GET", "/viewer/1.2.3", "", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>", false},
		{"GET", "/studies", "", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>", false},
		{"HEAD", "/viewer/1.2.3", "", 200, "text/html; charset=utf-8", "no-cache", "", false},
		// Hashed assets: long cache, right types.
		{"GET", "/assets/index-AbC123.js", "", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log", false},
		{"GET", "/assets/index-AbC123.js", "gzip, deflate, br", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "", true},
		{"GET", "/assets/decodewasm-XyZ.wasm", "", 200, "application/wasm", "public, max-age=31536000, immutable", "\x00asm", false},
		{"GET", "/assets/_virtual-chunk-Q1w2.js", "", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "export", false},
		{"GET", "/favicon.svg", "", 200, "image/svg+xml", "no-cache", "<svg/>", false},
		// Missing files are 404, never index.html served as JavaScript.
		{"GET", "/assets/index-old.js", "", 404, "", "", "", false},
		{"GET", "/missing.png", "", 404, "", "", "", false},
		{"GET", "/../../etc/passwd", "", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>", false},
		{"GET", "/viewer/1.2.840.10008.5.1.4.1.1.2", "", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>", false},
		{"POST", "/", "", 405, "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+tc.acceptEncoding, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://x"+tc.path, nil)
			if tc.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", tc.acceptEncoding)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cacheControl {
				t.Errorf("Cache-Control %q, want %q", got, tc.cacheControl)
			}
			body, _ := io.ReadAll(res.Body)
			if tc.gzip {
				if res.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding %q, want gzip", res.Header.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
				if string(body) != js {
					t.Errorf("gunzipped body differs from the file")
				}
			} else if res.Header.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q without Accept-Encoding gzip", res.Header.Get("Content-Encoding"))
			}
			if !strings.HasPrefix(string(body), tc.body) {
				t.Errorf("body %.40q, want prefix %q", body, tc.body)
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD returned a body")
			}
		})
	}
}

func TestHandlerServesPlaceholderOrApp(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/some/route", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /some/route: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	isPlaceholder := strings.Contains(rec.Body.String(), "web UI was not built")
	if isPlaceholder == Built() {
		t.Errorf("Built() = %v but the placeholder served = %v", Built(), isPlaceholder)
	}
}
