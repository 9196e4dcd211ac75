package httpapi

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/radmark/radmark"
)

func TestStowBoundary(t *testing.T) {
	tests := []struct {
		ct       string
		boundary string
		code     string
	}{
		{`multipart/related; type="application/dicom"; boundary=abc`, "abc", ""},
		{`multipart/related; boundary="x y"`, "x y", ""},
		{`Multipart/Related; Type="Application/DICOM"; boundary=q`, "q", ""},
		{`multipart/related; type="application/dicom+json"; boundary=abc`, "", radmark.EUNSUPPORTED},
		{`application/dicom`, "", radmark.EUNSUPPORTED},
		{`multipart/form-data; boundary=abc`, "", radmark.EUNSUPPORTED},
		{`multipart/related; type="application/dicom"`, "", radmark.EINVALID},
		{``, "", radmark.EUNSUPPORTED},
		{`multipart/related; boundary="unterminated`, "", radmark.EUNSUPPORTED},
	}
	for _, tt := range tests {
		b, err := stowBoundary(tt.ct)
		if b != tt.boundary || radmark.ErrorCode(err) != tt.code {
			t.Errorf("stowBoundary(%q) = %q, %v; want %q, code %q", tt.ct, b, err, tt.boundary, tt.code)
		}
	}
}

func multipartBody(t testing.TB, parts ...[2]string) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p[0] != "" {
			h.Set("Content-Type", p[0])
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(p[1]))
	}
	_ = mw.Close()
	return mw.Boundary(), buf.Bytes()
}

func TestReadParts(t *testing.T) {
	boundary, body := multipartBody(t,
		[2]string{"application/dicom", "first"},
		[2]string{"", "untyped"},
		[2]string{"application/pdf", "not dicom"},
		[2]string{"application/dicom", strings.Repeat("x", 100)},
	)
	var got []string
	n, err := readParts(bytes.NewReader(body), boundary, 50, t.TempDir(), func(batch []*spooled) error {
		for _, sp := range batch {
			if sp.partErr != nil {
				got = append(got, sp.src.Name+" refused "+radmark.ErrorCode(sp.partErr))
				continue
			}
			b, _ := io.ReadAll(io.NewSectionReader(sp.src.Data, 0, sp.src.Size))
			got = append(got, sp.src.Name+" "+string(b)+" "+sp.src.SHA256[:8])
		}
		return nil
	})
	if err != nil || n != 4 {
		t.Fatalf("readParts = %d, %v", n, err)
	}
	want := []string{"part 1 first a7937b64", "part 2 untyped 913d8eec", "part 3 refused unsupported", "part 4 refused too_large"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// FuzzReadParts: a STOW-RS body from anyone must never panic the server;
// each part is either handed over whole or refused with an error.
func FuzzReadParts(f *testing.F) {
	boundary, body := multipartBody(f, [2]string{"application/dicom", "DICM"}, [2]string{"text/plain", "x"})
	f.Add(`multipart/related; type="application/dicom"; boundary=`+boundary, body)
	f.Add(`multipart/related; boundary=b`, []byte("--b\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--b--\r\n"))
	f.Add(`multipart/related; boundary=b`, []byte("--b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		b, err := stowBoundary(contentType)
		if err != nil {
			return
		}
		_, _ = readParts(bytes.NewReader(body), b, 1<<20, t.TempDir(), func(batch []*spooled) error {
			for _, sp := range batch {
				if sp.partErr == nil && (sp.src.Data == nil || len(sp.src.SHA256) != 64) {
					t.Fatalf("accepted part without data or digest")
				}
			}
			return nil
		})
	})
}
