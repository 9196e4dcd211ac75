package dicom

import (
	"errors"
	"fmt"
	"io"
)

// source is the parser's input: a byte slice held in memory, or a stream
// read through a small buffer. It tracks the absolute offset so elements
// can record where their values lie, and it knows the total size when the
// caller does, so a length field can be checked against the bytes really
// left before anything is allocated.
type source struct {
	r    io.Reader
	seek io.Seeker
	buf  []byte
	lo   int   // buf[lo:hi] is unread
	hi   int   //
	off  int64 // absolute offset of buf[lo]
	size int64 // total input size, -1 if unknown
	mem  bool  // buf is the whole input
	eof  bool  // r returned io.EOF
}

const sourceBufSize = 16 << 10

func newMemSource(b []byte) *source {
	return &source{buf: b, hi: len(b), size: int64(len(b)), mem: true}
}

func newStreamSource(r io.Reader, size int64, base int64) *source {
	s := &source{r: r, buf: make([]byte, sourceBufSize), size: size, off: base}
	if sk, ok := r.(io.Seeker); ok {
		s.seek = sk
	}
	return s
}

// offset returns the absolute offset of the next unread byte.
func (s *source) offset() int64 { return s.off }

// remaining returns how many bytes are left, or -1 if unknown.
func (s *source) remaining() int64 {
	if s.size < 0 {
		return -1
	}
	return s.size - s.off
}

// atEOF reports whether no byte is left.
func (s *source) atEOF() bool {
	if s.hi > s.lo {
		return false
	}
	if s.mem {
		return true
	}
	_ = s.fill(1)
	return s.hi == s.lo
}

// fill makes at least n bytes available in buf[lo:hi]; n is small (a header).
func (s *source) fill(n int) error {
	if s.hi-s.lo >= n {
		return nil
	}
	if s.mem || s.eof {
		return io.ErrUnexpectedEOF
	}
	if s.lo > 0 {
		copy(s.buf, s.buf[s.lo:s.hi])
		s.hi -= s.lo
		s.lo = 0
	}
	if n > len(s.buf) {
		nb := make([]byte, n)
		copy(nb, s.buf[:s.hi])
		s.buf = nb
	}
	for s.hi-s.lo < n {
		m, err := s.r.Read(s.buf[s.hi:])
		s.hi += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.eof = true
				if s.hi-s.lo >= n {
					return nil
				}
				return io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read: %w", err)
		}
		if m == 0 && s.hi-s.lo < n {
			// A reader returning 0, nil repeatedly would spin forever.
			continue
		}
	}
	return nil
}

// peek returns the next n bytes without consuming them.
func (s *source) peek(n int) ([]byte, error) {
	if err := s.fill(n); err != nil {
		return nil, err
	}
	return s.buf[s.lo : s.lo+n], nil
}

// next consumes n bytes and returns them; the slice is valid until the next
// call. n is small (a header).
func (s *source) next(n int) ([]byte, error) {
	if err := s.fill(n); err != nil {
		return nil, err
	}
	b := s.buf[s.lo : s.lo+n]
	s.lo += n
	s.off += int64(n)
	return b, nil
}

// readInto fills dst from the input.
func (s *source) readInto(dst []byte) error {
	n := copy(dst, s.buf[s.lo:s.hi])
	s.lo += n
	s.off += int64(n)
	if n == len(dst) {
		return nil
	}
	if s.mem || s.eof {
		return io.ErrUnexpectedEOF
	}
	m, err := io.ReadFull(s.r, dst[n:])
	s.off += int64(m)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			s.eof = true
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// readValue reads a value of n bytes into memory from alloc. When the total
// size is unknown (a deflated stream) it grows the buffer as bytes arrive,
// so a lying length field cannot make it allocate more than the input holds.
func (s *source) readValue(n int64, alloc func(int) []byte) ([]byte, error) {
	if rem := s.remaining(); rem >= 0 && n > rem {
		return nil, io.ErrUnexpectedEOF
	}
	if s.mem {
		v := alloc(int(n))
		copy(v, s.buf[s.lo:s.lo+int(n)])
		s.lo += int(n)
		s.off += n
		return v, nil
	}
	const chunk = 1 << 20
	if s.size >= 0 || n <= chunk {
		v := alloc(int(n))
		if err := s.readInto(v); err != nil {
			return nil, err
		}
		return v, nil
	}
	var v []byte
	for int64(len(v)) < n {
		step := n - int64(len(v))
		if step > chunk {
			step = chunk
		}
		start := len(v)
		v = append(v, make([]byte, step)...)
		if err := s.readInto(v[start:]); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// share consumes n bytes of a memory input and returns them without
// copying, capped so an append cannot write into the input; ok is false
// for a stream, or when fewer bytes remain (readValue reports that).
func (s *source) share(n int64) (v []byte, ok bool) {
	if !s.mem || n > int64(s.hi-s.lo) {
		return nil, false
	}
	end := s.lo + int(n)
	v = s.buf[s.lo:end:end]
	s.lo = end
	s.off += n
	return v, true
}

// skip consumes n bytes without keeping them, seeking when it can.
func (s *source) skip(n int64) error {
	if rem := s.remaining(); rem >= 0 && n > rem {
		return io.ErrUnexpectedEOF
	}
	buffered := int64(s.hi - s.lo)
	if n <= buffered {
		s.lo += int(n)
		s.off += n
		return nil
	}
	s.lo, s.hi = 0, 0
	s.off += buffered
	n -= buffered
	if s.mem {
		return io.ErrUnexpectedEOF
	}
	if s.seek != nil && s.size >= 0 {
		if _, err := s.seek.Seek(s.off+n, io.SeekStart); err != nil {
			return fmt.Errorf("seek: %w", err)
		}
		s.off += n
		return nil
	}
	m, err := io.CopyN(io.Discard, s.r, n)
	s.off += m
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.eof = true
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// rest returns a reader over everything not yet consumed (used to switch to
// a deflate stream after the file meta information).
func (s *source) rest() io.Reader {
	buffered := s.buf[s.lo:s.hi]
	if s.mem {
		return &memReader{b: buffered}
	}
	return io.MultiReader(&memReader{b: append([]byte(nil), buffered...)}, s.r)
}

type memReader struct{ b []byte }

func (m *memReader) Read(p []byte) (int, error) {
	if len(m.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, m.b)
	m.b = m.b[n:]
	return n, nil
}
