package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"sync"
)

// multipartReader reads a multipart body (RFC 2046) part by part. It is
// written here rather than taken from mime/multipart because STOW-RS parts
// are large (a CT slice is half a megabyte) and mime/multipart scans them
// for the boundary a byte at a time from the end of each read, which was a
// tenth of ingest's CPU; this one finds the delimiter with bytes.Index
// (vectorised) over a large window.
type multipartReader struct {
	br       *bufio.Reader
	delim    []byte // "\r\n--" + boundary
	started  bool
	finished bool
}

const multipartWindow = 256 << 10

// multipartBuffers recycles the readers' windows: a fresh 256 KiB buffer
// for every request, one-instance uploads being common, was most of what
// ingest allocated and so much of its garbage collection.
var multipartBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, multipartWindow) }}

// newMultipartReader reads the multipart body r; release returns its
// buffer once the body is read.
func newMultipartReader(r io.Reader, boundary string) *multipartReader {
	br := multipartBuffers.Get().(*bufio.Reader)
	br.Reset(r)
	return &multipartReader{
		br:    br,
		delim: []byte("\r\n--" + boundary),
	}
}

// release recycles the reader's buffer; m is not to be used after.
func (m *multipartReader) release() {
	if m.br != nil {
		m.br.Reset(nil)
		multipartBuffers.Put(m.br)
		m.br = nil
	}
}

var errMultipartEnd = io.EOF

// errMalformedMultipart reports a body that breaks the multipart syntax.
type errMalformedMultipart struct{ msg string }

func (e errMalformedMultipart) Error() string { return "malformed multipart body: " + e.msg }

// nextPart moves to the next part and returns its headers; io.EOF after
// the last one. The caller then reads the body with readBody.
func (m *multipartReader) nextPart() (textproto.MIMEHeader, error) {
	if m.finished {
		return nil, errMultipartEnd
	}
	if !m.started {
		// Skip the preamble up to the first boundary, which may start the
		// body without the leading CRLF.
		m.started = true
		first := m.delim[2:]
		for {
			line, err := m.br.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				if errors.Is(err, io.EOF) {
					return nil, errMalformedMultipart{"no boundary found"}
				}
				return nil, err
			}
			if bytes.HasPrefix(line, first) {
				rest := bytes.TrimRight(line[len(first):], " \t\r\n")
				if bytes.Equal(rest, []byte("--")) {
					m.finished = true
					return nil, errMultipartEnd
				}
				if len(rest) == 0 {
					if !bytes.HasSuffix(line, []byte("\r\n")) {
						// Bare LF line ends, as mime/multipart also accepts.
						m.delim = m.delim[1:]
					}
					break
				}
			}
		}
	}
	tp := textproto.NewReader(m.br)
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errMalformedMultipart{"body ends inside part headers"}
		}
		return nil, errMalformedMultipart{"part headers: " + err.Error()}
	}
	return hdr, nil
}

// readBody copies the current part's body to w, up to max bytes; with more
// it returns errPartTooLarge after skipping the rest of the part.
func (m *multipartReader) readBody(w io.Writer, max int64) (int64, error) {
	var n int64
	tooLarge := false
	emit := func(b []byte) error {
		if tooLarge {
			return nil
		}
		if n+int64(len(b)) > max {
			tooLarge = true
			return nil
		}
		_, err := w.Write(b)
		n += int64(len(b))
		return err
	}
	for first := true; ; first = false {
		// Look at what is buffered (filling it when short) for the
		// delimiter.
		buf, err := m.br.Peek(multipartWindow)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
		if dash := bytes.IndexByte(m.delim, '-'); first && bytes.HasPrefix(buf, m.delim[dash:]) {
			// An empty body whose delimiter shares its line end with the
			// blank line ending the headers; mime/multipart accepts it.
			_, _ = m.br.Discard(len(m.delim) - dash)
			return 0, m.afterDelimiter()
		}
		if i := bytes.Index(buf, m.delim); i >= 0 {
			if err := emit(buf[:i]); err != nil {
				return n, err
			}
			_, _ = m.br.Discard(i + len(m.delim))
			if err := m.afterDelimiter(); err != nil {
				return n, err
			}
			if tooLarge {
				return n, errPartTooLarge
			}
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			return n, errMalformedMultipart{"body ends inside a part (no closing boundary)"}
		}
		// Keep the last len(delim)-1 bytes: a delimiter may straddle.
		keep := len(m.delim) - 1
		if len(buf) <= keep {
			return n, errMalformedMultipart{"body ends inside a part"}
		}
		if err := emit(buf[:len(buf)-keep]); err != nil {
			return n, err
		}
		_, _ = m.br.Discard(len(buf) - keep)
	}
}

var errPartTooLarge = errors.New("part too large")

// afterDelimiter reads what follows a delimiter: "--" ends the body,
// otherwise optional whitespace and CRLF start the next part.
func (m *multipartReader) afterDelimiter() error {
	b, err := m.br.Peek(2)
	if err == nil && string(b) == "--" {
		m.finished = true
		return nil
	}
	line, err := m.br.ReadSlice('\n')
	if err != nil {
		return errMalformedMultipart{"boundary not followed by a line end"}
	}
	if len(bytes.TrimRight(line, " \t\r\n")) != 0 {
		return errMalformedMultipart{fmt.Sprintf("unexpected %q after a boundary", bytes.TrimSpace(line))}
	}
	return nil
}
