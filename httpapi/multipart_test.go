package httpapi

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"testing"
)

// readAllParts reads every part body with our reader.
func readAllParts(body []byte, boundary string) ([][]byte, error) {
	m := newMultipartReader(bytes.NewReader(body), boundary)
	var out [][]byte
	for {
		_, err := m.nextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var b bytes.Buffer
		if _, err := m.readBody(&b, 1<<40); err != nil {
			return out, err
		}
		out = append(out, b.Bytes())
	}
}

// stdParts reads every part body with mime/multipart, the reference.
func stdParts(body []byte, boundary string) ([][]byte, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out [][]byte
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

func TestMultipartReaderMatchesStandardLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 17, multipartWindow - 40, multipartWindow, multipartWindow + 1, 3*multipartWindow + 7, 1 << 20}
	for trial := 0; trial < 40; trial++ {
		var parts [][2]string
		for k := 0; k < 1+rng.IntN(4); k++ {
			n := sizes[rng.IntN(len(sizes))]
			b := make([]byte, n)
			for i := range b {
				// Mostly bytes that look like boundary pieces, to tempt
				// false matches.
				b[i] = "\r\n-ab"[rng.IntN(5)]
			}
			parts = append(parts, [2]string{"application/dicom", string(b)})
		}
		boundary, body := multipartBody(t, parts...)
		if trial%3 == 0 {
			body = append([]byte("preamble to ignore\r\n"), body...)
		}
		want, err := stdParts(body, boundary)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAllParts(body, boundary)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d parts, want %d", trial, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("trial %d part %d differs (%d vs %d bytes)", trial, i, len(got[i]), len(want[i]))
			}
		}
	}
}

func TestMultipartReaderErrors(t *testing.T) {
	for name, body := range map[string]string{
		"no boundary":      "just text",
		"no closing":       "--b\r\nContent-Type: application/dicom\r\n\r\nabc",
		"headers cut":      "--b\r\nContent-Type: app",
		"junk after delim": "--b\r\n\r\nabc\r\n--bXYZ\r\n",
	} {
		if _, err := readAllParts([]byte(body), "b"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	parts, err := readAllParts([]byte("--b\r\n\r\nabc\r\n--b  \r\n\r\nde\r\n--b--\r\nepilogue"), "b")
	if err != nil || len(parts) != 2 || string(parts[0]) != "abc" || string(parts[1]) != "de" {
		t.Errorf("transport padding and epilogue: %q %v", parts, err)
	}
}

// FuzzMultipartReader: wherever mime/multipart reads a body completely,
// ours reads the same parts; and ours never panics.
func FuzzMultipartReader(f *testing.F) {
	f.Add([]byte("--b\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--b--\r\n"))
	f.Add([]byte("--b\r\n\r\n\r\n--b\r\n\r\nx\r\n--b--"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := readAllParts(body, "b")
		want, wantErr := stdParts(body, "b")
		if wantErr == nil && gotErr == nil {
			if len(got) != len(want) {
				t.Fatalf("%d parts, standard library %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("part %d: %q, standard library %q", i, got[i], want[i])
				}
			}
		}
	})
}
