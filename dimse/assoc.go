package dimse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// presentationContext is an accepted presentation context.
type presentationContext struct {
	ID             byte
	AbstractSyntax string
	TransferSyntax string
}

// association is one established association, either side. It is used by
// one goroutine at a time: DIMSE here runs with an asynchronous operations
// window of 1, so every request is answered before the next is read.
type association struct {
	conn      net.Conn
	br        *bufio.Reader
	calledAE  string
	callingAE string
	// project is set when the called AE title is a project's: the
	// association may only echo and store, and what it stores goes to
	// Config.ProjectStore.
	project  string
	contexts map[byte]*presentationContext
	// roles: SOP classes for which the peer accepted that we are the SCU
	// of C-STORE sub-operations on its side (C-GET).
	roles map[string]RoleSelection
	// maxRecv is the longest P-DATA-TF body we accept; maxSend the peer's
	// (0 means it set no limit).
	maxRecv, maxSend uint32
	idle             time.Duration
	spoolMem         int
	maxData          int64
	spoolDir         string
	identity         *UserIdentity
	writeMu          sync.Mutex
	closed           bool
	nextMsgID        uint16
	// watchCancel is the message ID of a running C-GET whose C-CANCEL may
	// arrive among the responses to its sub-operations; cancelled is set
	// when it did.
	watchCancel uint16
	cancelled   bool
	lastPoll    time.Time
	// pduBuf holds the P-DATA-TF being read; what is kept of it is copied.
	pduBuf []byte
}

// message is one DIMSE message: its command and, if any, its data set.
type message struct {
	ctx  *presentationContext
	cmd  *Command
	data *spool
}

func (m *message) close() {
	if m != nil && m.data != nil {
		m.data.Close()
	}
}

// errReleased is returned by readMessage when the peer asks to release.
var errReleased = errors.New("dimse: association released by the peer")

// sendLimit caps the PDUs we send when the peer sets no limit.
const sendLimit = 1 << 20

func (a *association) deadline(d time.Duration) {
	if d > 0 {
		_ = a.conn.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = a.conn.SetReadDeadline(time.Time{})
	}
}

func (a *association) write(b []byte) error {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	if a.idle > 0 {
		_ = a.conn.SetWriteDeadline(time.Now().Add(a.idle))
	}
	_, err := a.conn.Write(b)
	return err
}

// abort sends an A-ABORT and closes the connection.
func (a *association) abort(source, reason byte) {
	if a.closed {
		return
	}
	_ = a.write(encodeAbort(source, reason))
	a.closed = true
	_ = a.conn.Close()
}

// readMessage reads the next complete message. Release requests come back
// as errReleased (the caller answers them), an A-ABORT as *AbortError, and
// protocol violations abort the association and return the cause.
func (a *association) readMessage() (*message, error) {
	var cmdBuf []byte
	var m message
	cmdDone := false
	for {
		a.deadline(a.idle)
		p, err := readPDUInto(a.br, a.maxRecv, &a.pduBuf)
		if err != nil {
			m.close()
			if errors.Is(err, errPDUTooLong) {
				a.abort(2, abortInvalidParameter)
			} else if errors.Is(err, ErrProtocol) {
				a.abort(2, abortUnrecognizedPDU)
			} else {
				a.closed = true
				_ = a.conn.Close()
			}
			return nil, err
		}
		switch p.Type {
		case pduPData:
		case pduReleaseRQ:
			m.close()
			return nil, errReleased
		case pduAbort:
			m.close()
			a.closed = true
			_ = a.conn.Close()
			ae := &AbortError{}
			if len(p.Body) == 4 {
				ae.Source, ae.Reason = p.Body[2], p.Body[3]
			}
			return nil, ae
		default:
			m.close()
			a.abort(2, abortUnexpectedPDU)
			return nil, protoErr("unexpected PDU type 0x%02X during data transfer", p.Type)
		}
		pdvs, err := decodePData(p.Body)
		if err != nil {
			m.close()
			a.abort(2, abortInvalidParameter)
			return nil, err
		}
		for _, v := range pdvs {
			pc := a.contexts[v.ContextID]
			if pc == nil {
				m.close()
				a.abort(2, abortInvalidParameter)
				return nil, protoErr("PDV on presentation context %d, which was not accepted", v.ContextID)
			}
			if m.ctx != nil && m.ctx != pc {
				m.close()
				a.abort(2, abortInvalidParameter)
				return nil, protoErr("one message spans presentation contexts %d and %d", m.ctx.ID, v.ContextID)
			}
			m.ctx = pc
			if v.Command {
				if cmdDone {
					m.close()
					a.abort(2, abortUnexpectedPDU)
					return nil, protoErr("command fragment after the last one")
				}
				if len(cmdBuf)+len(v.Data) > maxCommandSize {
					a.abort(2, abortInvalidParameter)
					return nil, protoErr("command set longer than %d bytes", maxCommandSize)
				}
				cmdBuf = append(cmdBuf, v.Data...)
				if !v.Last {
					continue
				}
				cmdDone = true
				if m.cmd, err = decodeCommand(cmdBuf); err != nil {
					a.abort(2, abortInvalidParameter)
					return nil, err
				}
				if !m.cmd.HasDataSet {
					return &m, nil
				}
				m.data = newSpool(a.spoolDir, a.spoolMem, a.maxData)
				continue
			}
			if !cmdDone {
				m.close()
				a.abort(2, abortUnexpectedPDU)
				return nil, protoErr("data set fragment before its command")
			}
			if err := m.data.Write(v.Data); err != nil {
				m.close()
				a.abort(2, abortNotSpecified)
				return nil, err
			}
			if v.Last {
				return &m, nil
			}
		}
	}
}

// pendingData reports, without blocking, whether the peer has sent
// something (a C-CANCEL while we send results).
func (a *association) pendingData() bool {
	if a.br.Buffered() > 0 {
		return true
	}
	// Polling the socket costs a millisecond: do it at most every 100 ms,
	// so a long result list is not slowed down by it.
	if time.Since(a.lastPoll) < 100*time.Millisecond {
		return false
	}
	a.lastPoll = time.Now()
	_ = a.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := a.br.Peek(1)
	a.deadline(a.idle)
	return err == nil
}

func (a *association) maxPDV() int {
	n := int(a.maxSend)
	if n == 0 || n > sendLimit {
		n = sendLimit
	}
	return n - 6
}

// writeMessage sends cmd and, if data is not nil, the data set read from it.
func (a *association) writeMessage(pc *presentationContext, cmd *Command, data io.Reader) error {
	cmd.HasDataSet = data != nil
	cb := cmd.encode()
	max := a.maxPDV()
	for off := 0; off < len(cb); off += max {
		end := min(off+max, len(cb))
		buf := appendPDataHeader(nil, pc.ID, true, end == len(cb), end-off)
		if err := a.write(append(buf, cb[off:end]...)); err != nil {
			return err
		}
	}
	if data == nil {
		return nil
	}
	br := bufio.NewReaderSize(data, 64<<10)
	buf := make([]byte, 12+max)
	for {
		n, err := io.ReadFull(br, buf[12:])
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return err
		}
		last := n < max
		if !last {
			if _, perr := br.Peek(1); perr == io.EOF {
				last = true
			} else if perr != nil {
				return perr
			}
		}
		appendPDataHeader(buf[:0], pc.ID, false, last, n) // fills buf[:12]
		if err := a.write(buf[:12+n]); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// spool holds a received data set: in memory up to memLimit bytes, then in a
// temporary file, and never more than maxSize bytes.
type spool struct {
	// mem is headroom bytes of room for a file header (see Part10), then
	// the data set.
	mem      []byte
	f        *os.File
	size     int64
	memLimit int
	maxSize  int64
	dir      string
}

// ErrDataSetTooLarge is returned when a data set exceeds the configured
// maximum.
var ErrDataSetTooLarge = errors.New("dimse: data set exceeds the size limit")

func newSpool(dir string, memLimit int, maxSize int64) *spool {
	return &spool{dir: dir, memLimit: memLimit, maxSize: maxSize}
}

// spoolBuffers recycles the memory of received data sets: a CT slice is
// half a megabyte, and growing a new buffer for each made the garbage
// collector and page faults a large part of receiving.
var spoolBuffers sync.Pool

// maxPooledSpool bounds the buffers kept for reuse, so one huge data set
// does not pin its memory.
const maxPooledSpool = 16 << 20

func (s *spool) Write(p []byte) error {
	if s.size+int64(len(p)) > s.maxSize {
		return fmt.Errorf("%w of %d bytes", ErrDataSetTooLarge, s.maxSize)
	}
	s.size += int64(len(p))
	if s.f == nil && len(s.mem)+len(p) <= s.memLimit {
		if s.mem == nil {
			if b, ok := spoolBuffers.Get().(*[]byte); ok {
				s.mem = (*b)[:headroom]
			} else {
				s.mem = make([]byte, headroom, headroom+len(p))
			}
		}
		s.mem = append(s.mem, p...)
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "radmark-dimse-*")
		if err != nil {
			return fmt.Errorf("dimse: spool data set: %w", err)
		}
		s.f = f
		if _, err := f.Write(s.mem[headroom:]); err != nil {
			return fmt.Errorf("dimse: spool data set: %w", err)
		}
		s.release()
	}
	if _, err := s.f.Write(p); err != nil {
		return fmt.Errorf("dimse: spool data set: %w", err)
	}
	return nil
}

func (s *spool) Size() int64 { return s.size }

func (s *spool) ReaderAt() io.ReaderAt {
	if s.f != nil {
		return s.f
	}
	b, _ := s.Bytes()
	return bytes.NewReader(b)
}

// Bytes returns the data set when it is held in memory.
func (s *spool) Bytes() ([]byte, bool) {
	if s.f != nil {
		return nil, false
	}
	if s.mem == nil {
		return nil, true
	}
	return s.mem[headroom:], true
}

// headroom is the room kept before a data set held in memory for the
// Part 10 header that makes it a file: a preamble and a file meta group
// of two UIDs, a transfer syntax and an AE title need less than 512 bytes.
const headroom = 512

// Part10 returns the data set held in memory preceded by head (a file
// header), as one slice: so it is parsed and stored without copying.
// ok is false when the data set is in a file, or head is too long.
func (s *spool) Part10(head []byte) (b []byte, ok bool) {
	if s.f != nil || s.mem == nil || len(head) > headroom {
		return nil, false
	}
	b = s.mem[headroom-len(head):]
	copy(b, head)
	return b, true
}

// Close frees the data set. Its memory is reused, so nothing may hold
// on to what Bytes or ReaderAt returned.
func (s *spool) Close() {
	if s.f != nil {
		name := s.f.Name()
		_ = s.f.Close()
		_ = os.Remove(name)
		s.f = nil
	}
	s.release()
}

func (s *spool) release() {
	if s.mem != nil && cap(s.mem) <= maxPooledSpool {
		b := s.mem[:0]
		spoolBuffers.Put(&b)
	}
	s.mem = nil
}

// concatReaderAt joins a header and a body into one io.ReaderAt.
type concatReaderAt struct {
	head []byte
	body io.ReaderAt
}

func (c concatReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(c.head)) {
		n = copy(p, c.head[off:])
		if n == len(p) {
			return n, nil
		}
	}
	m, err := c.body.ReadAt(p[n:], off+int64(n)-int64(len(c.head)))
	return n + m, err
}
