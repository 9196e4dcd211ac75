package dimse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

func sampleRQ() *associate {
	return &associate{
		CalledAE: "RADMARK", CallingAE: "MODALITY", MaxPDULength: 16384,
		ImplementationUID: "1.2.3.4", ImplementationName: "TEST",
		AsyncInvoked: 1, AsyncPerformed: 1,
		Contexts: []PresentationContext{
			{ID: 1, AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
			{ID: 3, AbstractSyntax: "1.2.840.10008.5.1.4.1.1.2", TransferSyntaxes: []string{dicom.JPEGLSLossless, dicom.ExplicitVRLittleEndian}},
		},
		Roles:    []RoleSelection{{SOPClass: "1.2.840.10008.5.1.4.1.1.2", SCP: true}},
		Identity: &UserIdentity{Type: 2, PositiveResponse: true, Primary: []byte("user"), Secondary: []byte("secret")},
	}
}

func TestAssociateRoundTrip(t *testing.T) {
	rq := sampleRQ()
	b := rq.encode(true)
	p, err := readPDU(bytes.NewReader(b), 1<<16)
	if err != nil || p.Type != pduAssociateRQ {
		t.Fatalf("read: %v type %d", err, p.Type)
	}
	got, err := decodeAssociate(p.Body, true)
	if err != nil {
		t.Fatal(err)
	}
	got.ProtocolVersion = 0
	got.ApplicationContext = ""
	if !reflect.DeepEqual(got, rq) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rq)
	}
	ac := &associate{CalledAE: "RADMARK", CallingAE: "MODALITY", MaxPDULength: 1 << 20, ImplementationUID: "1.2",
		Contexts:         []PresentationContext{{ID: 1, Result: pcAccepted, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}, {ID: 3, Result: pcAbstractSyntaxNotSupported, TransferSyntaxes: []string{""}}},
		IdentityResponse: []byte{}}
	p, _ = readPDU(bytes.NewReader(ac.encode(false)), 1<<16)
	back, err := decodeAssociate(p.Body, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Contexts) != 2 || back.Contexts[1].Result != pcAbstractSyntaxNotSupported || back.MaxPDULength != 1<<20 {
		t.Errorf("A-ASSOCIATE-AC round trip: %+v", back)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	c := &Command{Field: CMoveRSP, MessageIDRespondedTo: 7, AffectedSOPClassUID: StudyRootMove, Status: StatusPending,
		Remaining: u16p(3), Completed: u16p(2), Failed: u16p(1), Warning: u16p(0), ErrorComment: "odd", HasDataSet: true}
	got, err := decodeCommand(c.encode())
	if err != nil {
		t.Fatal(err)
	}
	c.hasStatus = true
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
}

// TestPDULengthCheckedBeforeAllocation: a 100 MB length on a 6-byte input
// is refused without reading or allocating the body.
func TestPDULengthCheckedBeforeAllocation(t *testing.T) {
	hdr := []byte{pduPData, 0, 0x06, 0x40, 0, 0} // 100 MiB
	allocs := testing.AllocsPerRun(10, func() {
		_, err := readPDU(bytes.NewReader(hdr), 1<<20)
		if !errors.Is(err, errPDUTooLong) {
			t.Fatalf("err = %v", err)
		}
	})
	if allocs > 8 {
		t.Errorf("%v allocations for a refused PDU", allocs)
	}
}

// rawConn opens a TCP connection to the server.
func rawConn(t *testing.T, p int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+port(p))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// expectAbort reads the next PDU and checks it is an A-ABORT (or that the
// connection closes), then that the connection closes.
func expectAbort(t *testing.T, c net.Conn, reason byte) {
	t.Helper()
	p, err := readPDU(bufio.NewReader(c), 1<<20)
	if err != nil {
		t.Fatalf("expected an A-ABORT, got %v", err)
	}
	if p.Type != pduAbort || len(p.Body) != 4 || p.Body[3] != reason {
		t.Fatalf("expected A-ABORT reason %d, got type %d body %v", reason, p.Type, p.Body)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection still open after the abort: %v", err)
	}
}

func echoWorks(t *testing.T, p int) {
	t.Helper()
	c, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatalf("a good association after bad ones: %v", err)
	}
	if err := c.Echo(); err != nil {
		t.Fatal(err)
	}
	c.Release()
}

func TestBadInput(t *testing.T) {
	ar := newArchive(t)
	_, p := startServer(t, Config{ARTIMTimeout: 300 * time.Millisecond, IdleTimeout: 400 * time.Millisecond, MaxPDULength: 16384}, ar)

	t.Run("100 MB association request", func(t *testing.T) {
		c := rawConn(t, p)
		c.Write([]byte{pduAssociateRQ, 0, 0x06, 0x40, 0, 0})
		expectAbort(t, c, abortInvalidParameter)
	})
	t.Run("unknown PDU type", func(t *testing.T) {
		c := rawConn(t, p)
		c.Write([]byte{0x09, 0, 0, 0, 0, 4, 1, 2, 3, 4})
		expectAbort(t, c, abortInvalidParameter)
	})
	t.Run("truncated association request", func(t *testing.T) {
		c := rawConn(t, p)
		body := sampleRQ().encode(true)[6:]
		c.Write(append([]byte{pduAssociateRQ, 0, 0, 0, 0, 20}, body[:20]...))
		expectAbort(t, c, abortInvalidParameter)
	})
	t.Run("data before association", func(t *testing.T) {
		c := rawConn(t, p)
		c.Write(appendPDataHeader(nil, 1, true, true, 0))
		expectAbort(t, c, abortUnexpectedPDU)
	})
	t.Run("stalled client", func(t *testing.T) {
		c := rawConn(t, p)
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a silent client held the connection for %v", d)
		}
	})
	t.Run("unsupported abstract syntax", func(t *testing.T) {
		cl, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
			DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{
				{AbstractSyntax: "1.2.840.10008.5.1.4.31", TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}, // Modality Worklist
				{AbstractSyntax: StudyRootFind, TransferSyntaxes: []string{dicom.JPEGBaseline8Bit}},
				{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Release()
		if cl.Accepted("1.2.840.10008.5.1.4.31", "") || cl.Accepted(StudyRootFind, "") || !cl.Accepted(VerificationSOPClass, "") {
			t.Errorf("contexts accepted: %+v", cl.a.contexts)
		}
	})
	t.Run("P-DATA beyond the negotiated maximum", func(t *testing.T) {
		cl, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
			DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
		if err != nil {
			t.Fatal(err)
		}
		cl.a.write([]byte{pduPData, 0, 0x06, 0x40, 0, 0})
		expectAbort(t, cl.a.conn, abortInvalidParameter)
	})
	t.Run("malformed command set", func(t *testing.T) {
		cl, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
			DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
		if err != nil {
			t.Fatal(err)
		}
		bad := []byte{0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2}
		cl.a.write(append(appendPDataHeader(nil, 1, true, true, len(bad)), bad...))
		expectAbort(t, cl.a.conn, abortInvalidParameter)
	})
	t.Run("idle association", func(t *testing.T) {
		cl, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
			DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := cl.Echo(); err == nil {
			t.Error("an association idle beyond the timeout still answers")
		}
	})
	// After all that, the server still serves.
	echoWorks(t, p)
}

// TestAbortMidTransfer: an association aborted in the middle of a data set
// leaves nothing stored, and the temporary spool is removed.
func TestAbortMidTransfer(t *testing.T) {
	ar := newArchive(t)
	srv, p := startServer(t, Config{}, ar)
	const ct = "1.2.840.10008.5.1.4.1.1.2"
	ds := &dicom.Dataset{}
	ds.SetString(dicom.TagSOPClassUID, ct)
	ds.SetString(dicom.TagSOPInstanceUID, "1.2.3.4.5")
	ds.SetString(dicom.TagStudyInstanceUID, "1.2.3")
	ds.SetString(dicom.TagSeriesInstanceUID, "1.2.3.4")
	ds.SetBytes(dicom.TagPixelData, dicom.OW, make([]byte, 70<<20)) // beyond the in-memory spool
	var data bytes.Buffer
	dicom.WriteDatasetSyntax(&data, ds, dicom.ExplicitVRLittleEndian)
	cl, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: ct, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	pc := cl.context(ct, "")
	cmd := (&Command{Field: CStoreRQ, MessageID: 1, AffectedSOPClassUID: ct, AffectedSOPInstanceUID: "1.2.3.4.5", HasDataSet: true}).encode()
	cl.a.write(append(appendPDataHeader(nil, pc.ID, true, true, len(cmd)), cmd...))
	half := data.Bytes()[:data.Len()-1000]
	for off := 0; off < len(half); off += 60000 {
		end := min(off+60000, len(half))
		cl.a.write(append(appendPDataHeader(nil, pc.ID, false, false, end-off), half[off:end]...))
	}
	cl.Abort()
	waitSpoolEmpty(t, srv)
	if _, _, n, _ := ar.Store.Counts(context.Background()); n != 0 {
		t.Errorf("%d instances stored from an aborted transfer", n)
	}
	echoWorks(t, p)
}

// waitSpoolEmpty waits for the server to remove its spool files: it
// notices an abort once it has read what was sent before it.
func waitSpoolEmpty(t *testing.T, srv *Server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, _ := filepathGlob(srv.cfg.SpoolDir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool files left behind: %v", left)
		}
	}
}

func FuzzPDU(f *testing.F) {
	f.Add(sampleRQ().encode(true))
	f.Add((&associate{CalledAE: "A", CallingAE: "B", MaxPDULength: 1, Contexts: []PresentationContext{{ID: 1, TransferSyntaxes: []string{"1.2"}}}}).encode(false))
	f.Add(rejectCallingAE.encode())
	f.Add(encodeAbort(2, 6))
	f.Add(encodeRelease(pduReleaseRQ))
	cmd := (&Command{Field: CEchoRQ, MessageID: 1, AffectedSOPClassUID: VerificationSOPClass}).encode()
	f.Add(append(appendPDataHeader(nil, 1, true, true, len(cmd)), cmd...))
	f.Add([]byte{pduPData, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := readPDU(bytes.NewReader(b), 1<<16)
		if err != nil {
			return
		}
		switch p.Type {
		case pduAssociateRQ, pduAssociateAC:
			if a, err := decodeAssociate(p.Body, p.Type == pduAssociateRQ); err == nil {
				// What decodes re-encodes and decodes the same.
				q, err := readPDU(bytes.NewReader(a.encode(p.Type == pduAssociateRQ)), 1<<20)
				if err != nil {
					t.Fatalf("re-encoded PDU unreadable: %v", err)
				}
				if _, err := decodeAssociate(q.Body, p.Type == pduAssociateRQ); err != nil && len(a.CalledAE) <= 16 {
					t.Logf("re-encoded association does not decode: %v", err)
				}
			}
		case pduAssociateRJ:
			_, _ = decodeRejection(p.Body)
		case pduPData:
			if pdvs, err := decodePData(p.Body); err == nil {
				for _, v := range pdvs {
					if v.Command {
						_, _ = decodeCommand(v.Data)
					}
				}
			}
		}
	})
}

func FuzzCommand(f *testing.F) {
	f.Add((&Command{Field: CEchoRQ, MessageID: 1, AffectedSOPClassUID: VerificationSOPClass}).encode())
	f.Add((&Command{Field: CStoreRQ, MessageID: 9, AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", AffectedSOPInstanceUID: "1.2.3", HasDataSet: true, MoveOriginatorAE: "X", MoveOriginatorMessageID: 3}).encode())
	f.Add((&Command{Field: CMoveRSP, MessageIDRespondedTo: 9, Status: StatusPending, Remaining: u16p(1), Completed: u16p(2), Failed: u16p(0), Warning: u16p(0), ErrorComment: "x"}).encode())
	f.Add([]byte{0, 0, 0, 1, 2, 0, 0, 0, 0x30})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		again, err := decodeCommand(c.encode())
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if again.Field != c.Field || again.HasDataSet != c.HasDataSet {
			t.Fatalf("re-encoded command differs: %+v vs %+v", again, c)
		}
	})
}

func filepathGlob(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "radmark-dimse-*"))
}

// TestDcmtkAssociateRequests decodes the A-ASSOCIATE-RQs dcmtk's SCUs sent
// (captured into the fuzz seed corpus).
func TestDcmtkAssociateRequests(t *testing.T) {
	files, _ := filepath.Glob("testdata/fuzz/FuzzPDU/dcmtk-*")
	if len(files) < 3 {
		t.Fatalf("seed corpus has %d dcmtk captures", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[1])
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		p, err := readPDU(strings.NewReader(s), 1<<20)
		if err != nil || p.Type != pduAssociateRQ {
			t.Fatalf("%s: %v", f, err)
		}
		a, err := decodeAssociate(p.Body, true)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if a.CalledAE != "RADMARK" || a.ApplicationContext != ApplicationContext || len(a.Contexts) == 0 || a.MaxPDULength == 0 {
			t.Errorf("%s: decoded %+v", f, a)
		}
		if strings.Contains(f, "getscu") && len(a.Roles) == 0 {
			t.Errorf("%s: getscu's role selection items were not read", f)
		}
	}
}

// TestFindCancel sends a C-CANCEL right behind a C-FIND: the SCP stops
// and answers Cancel (PS3.4 C.4.1.2.3.1).
func TestFindCancel(t *testing.T) {
	data := testenv.SharedData(t)
	ar := newArchive(t)
	_, p := startServer(t, Config{}, ar)
	storeSeries(t, p, dicomFiles(t, filepath.Join(data, "ct", "tcia_lung-pet-ct-dx_A0002_chest-8mm")))
	cl, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: StudyRootFind, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Release()
	pc := cl.context(StudyRootFind, "")
	id := &dicom.Dataset{}
	id.SetString(dicom.TagQueryRetrieveLevel, "IMAGE")
	id.SetString(dicom.TagSOPInstanceUID)
	var buf bytes.Buffer
	dicom.WriteDatasetSyntax(&buf, id, dicom.ExplicitVRLittleEndian)
	ident := buf.Bytes()
	if err := cl.a.writeMessage(pc, &Command{Field: CFindRQ, MessageID: 5, AffectedSOPClassUID: StudyRootFind}, bytes.NewReader(ident)); err != nil {
		t.Fatal(err)
	}
	if err := cl.a.writeMessage(pc, &Command{Field: CCancelRQ, MessageIDRespondedTo: 5}, nil); err != nil {
		t.Fatal(err)
	}
	pending := 0
	for {
		m, err := cl.a.readMessage()
		if err != nil {
			t.Fatal(err)
		}
		m.close()
		if m.cmd.Status == StatusPending {
			pending++
			continue
		}
		if m.cmd.Status != StatusCancel || pending >= 30 {
			t.Errorf("final status 0x%04X after %d of 30 matches", m.cmd.Status, pending)
		}
		break
	}
	// The association goes on.
	cl.a.writeMessage(pc, &Command{Field: CFindRQ, MessageID: 6, AffectedSOPClassUID: StudyRootFind}, bytes.NewReader(ident))
	n := 0
	for {
		m, err := cl.a.readMessage()
		if err != nil {
			t.Fatal(err)
		}
		m.close()
		if m.cmd.Status != StatusPending {
			if m.cmd.Status != StatusSuccess || n != 30 {
				t.Errorf("second C-FIND: status 0x%04X with %d matches", m.cmd.Status, n)
			}
			break
		}
		n++
	}
}

func TestUserIdentity(t *testing.T) {
	_, p := startServer(t, Config{Authenticate: func(calling string, id *UserIdentity) (bool, []byte) {
		if id == nil || id.Type != 2 || string(id.Primary) != "reader" || string(id.Secondary) != "s3cret" {
			return false, nil
		}
		return true, []byte("welcome")
	}}, newArchive(t))
	dial := func(id *UserIdentity) (*Client, error) {
		return Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
			DialOptions{CallingAE: "SELF", Identity: id, Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
	}
	c, err := dial(&UserIdentity{Type: 2, PositiveResponse: true, Primary: []byte("reader"), Secondary: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.IdentityResponse) != "welcome" {
		t.Errorf("identity response %q", c.IdentityResponse)
	}
	c.Release()
	for _, id := range []*UserIdentity{nil, {Type: 2, Primary: []byte("reader"), Secondary: []byte("wrong")}} {
		var rj Rejection
		if _, err := dial(id); !errors.As(err, &rj) || rj.Reason != 3 {
			t.Errorf("identity %+v: %v", id, err)
		}
	}
}
