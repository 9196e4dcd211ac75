package dimse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// ProposedContext is a presentation context an SCU proposes.
type ProposedContext struct {
	AbstractSyntax   string
	TransferSyntaxes []string
}

// DialOptions configure an association radmark requests.
type DialOptions struct {
	// CallingAE is radmark's AE title.
	CallingAE string
	// Contexts are proposed in order; at most 128.
	Contexts []ProposedContext
	// MaxPDULength radmark accepts (default 1 MiB).
	MaxPDULength uint32
	// Timeout bounds connecting and association set-up (default 30 s);
	// IdleTimeout each later wait for the peer (default 5 min).
	Timeout     time.Duration
	IdleTimeout time.Duration
	// Identity, if set, is sent as user identity negotiation.
	Identity *UserIdentity
}

// Client is an association radmark requested, as SCU.
type Client struct {
	a *association
	// IdentityResponse is the peer's answer to a user identity that asked
	// for a positive response; nil if it gave none.
	IdentityResponse []byte
}

// Dial connects to peer and negotiates an association.
func Dial(ctx context.Context, peer Peer, opts DialOptions) (*Client, error) {
	if opts.MaxPDULength == 0 {
		opts.MaxPDULength = 1 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 5 * time.Minute
	}
	if len(opts.Contexts) == 0 || len(opts.Contexts) > 128 {
		return nil, fmt.Errorf("dimse: %d presentation contexts proposed; 1 to 128 are allowed", len(opts.Contexts))
	}
	if err := checkAETitle(opts.CallingAE); err != nil {
		return nil, fmt.Errorf("dimse: calling %w", err)
	}
	d := net.Dialer{Timeout: opts.Timeout}
	var conn net.Conn
	var err error
	if peer.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: peer.TLS}
		conn, err = td.DialContext(ctx, "tcp", peer.Addr())
	} else {
		conn, err = d.DialContext(ctx, "tcp", peer.Addr())
	}
	if err != nil {
		return nil, fmt.Errorf("dimse: connect to %s (%s): %w", peer.AETitle, peer.Addr(), err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	rq := &associate{CalledAE: peer.AETitle, CallingAE: opts.CallingAE, MaxPDULength: opts.MaxPDULength,
		ImplementationUID: implementationUIDDIMSE, ImplementationName: "RADMARK_DIMSE", Identity: opts.Identity}
	for i, pc := range opts.Contexts {
		rq.Contexts = append(rq.Contexts, PresentationContext{ID: byte(2*i + 1), AbstractSyntax: pc.AbstractSyntax, TransferSyntaxes: pc.TransferSyntaxes})
	}
	_ = conn.SetDeadline(time.Now().Add(opts.Timeout))
	if _, err := conn.Write(rq.encode(true)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dimse: send A-ASSOCIATE-RQ: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	p, err := readPDU(br, maxAssociatePDU)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dimse: association with %s: %w", peer.AETitle, err)
	}
	switch p.Type {
	case pduAssociateAC:
	case pduAssociateRJ:
		conn.Close()
		rj, err := decodeRejection(p.Body)
		if err != nil {
			return nil, err
		}
		return nil, rj
	case pduAbort:
		conn.Close()
		return nil, &AbortError{}
	default:
		conn.Close()
		return nil, protoErr("answer to A-ASSOCIATE-RQ is PDU type 0x%02X", p.Type)
	}
	ac, err := decodeAssociate(p.Body, false)
	if err != nil {
		_, _ = conn.Write(encodeAbort(0, 0))
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	a := &association{conn: conn, br: br, calledAE: peer.AETitle, callingAE: opts.CallingAE,
		contexts: map[byte]*presentationContext{}, roles: map[string]RoleSelection{},
		maxRecv: opts.MaxPDULength, maxSend: ac.MaxPDULength, idle: opts.IdleTimeout,
		spoolMem: 64 << 20, maxData: 4 << 30}
	for _, pc := range ac.Contexts {
		i := int(pc.ID-1) / 2
		if pc.Result != pcAccepted || pc.ID%2 == 0 || i >= len(opts.Contexts) || len(pc.TransferSyntaxes) == 0 {
			continue
		}
		a.contexts[pc.ID] = &presentationContext{ID: pc.ID, AbstractSyntax: opts.Contexts[i].AbstractSyntax, TransferSyntax: pc.TransferSyntaxes[0]}
	}
	if len(a.contexts) == 0 {
		c := &Client{a: a}
		_ = c.Release()
		return nil, fmt.Errorf("dimse: %s accepted none of the proposed presentation contexts", peer.AETitle)
	}
	return &Client{a: a, IdentityResponse: ac.IdentityResponse}, nil
}

// Accepted reports whether the peer accepted abstract in transfer syntax ts
// ("" for any).
func (c *Client) Accepted(abstract, ts string) bool { return c.context(abstract, ts) != nil }

func (c *Client) context(abstract, ts string) *presentationContext {
	for id := byte(1); id != 0 && id < 255; id += 2 {
		pc := c.a.contexts[id]
		if pc != nil && pc.AbstractSyntax == abstract && (ts == "" || pc.TransferSyntax == ts) {
			return pc
		}
	}
	return nil
}

func (c *Client) messageID() uint16 {
	c.a.nextMsgID++
	if c.a.nextMsgID == 0 {
		c.a.nextMsgID = 1
	}
	return c.a.nextMsgID
}

// StatusError is a DIMSE response with a failure status.
type StatusError struct {
	Status  uint16
	Comment string
}

func (e *StatusError) Error() string {
	if e.Comment != "" {
		return fmt.Sprintf("dimse: status 0x%04X: %s", e.Status, e.Comment)
	}
	return fmt.Sprintf("dimse: status 0x%04X", e.Status)
}

// response waits for the response to message id.
func (c *Client) response(id uint16) (*Command, error) {
	m, err := c.a.readMessage()
	if err != nil {
		return nil, err
	}
	m.close()
	if m.cmd.Field == CCancelRQ && c.a.watchCancel != 0 && m.cmd.MessageIDRespondedTo == c.a.watchCancel {
		// The peer cancels the C-GET whose sub-operation this is.
		c.a.cancelled = true
		return c.response(id)
	}
	if m.cmd.MessageIDRespondedTo != id || !m.cmd.IsResponse() {
		c.a.abort(0, 0)
		return nil, protoErr("expected the response to message %d, got 0x%04X for %d", id, m.cmd.Field, m.cmd.MessageIDRespondedTo)
	}
	return m.cmd, nil
}

// Echo sends a C-ECHO.
func (c *Client) Echo() error {
	pc := c.context(VerificationSOPClass, "")
	if pc == nil {
		return errors.New("dimse: Verification was not accepted")
	}
	id := c.messageID()
	if err := c.a.writeMessage(pc, &Command{Field: CEchoRQ, MessageID: id, AffectedSOPClassUID: VerificationSOPClass}, nil); err != nil {
		return err
	}
	rsp, err := c.response(id)
	if err != nil {
		return err
	}
	if rsp.Status != StatusSuccess {
		return &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return nil
}

// Store sends one C-STORE of a data set encoded in ts and returns the
// peer's status (warnings included); a failure status is a *StatusError.
func (c *Client) Store(sopClass, sopInstance, ts string, data io.Reader) (uint16, error) {
	return c.store(sopClass, sopInstance, ts, data, "", 0)
}

func (c *Client) store(sopClass, sopInstance, ts string, data io.Reader, origAE string, origID uint16) (uint16, error) {
	pc := c.context(sopClass, ts)
	if pc == nil {
		return 0, fmt.Errorf("dimse: no accepted presentation context for %s in %s", sopClass, ts)
	}
	id := c.messageID()
	cmd := &Command{Field: CStoreRQ, MessageID: id, AffectedSOPClassUID: sopClass, AffectedSOPInstanceUID: sopInstance,
		MoveOriginatorAE: origAE, MoveOriginatorMessageID: origID}
	if err := c.a.writeMessage(pc, cmd, data); err != nil {
		return 0, err
	}
	rsp, err := c.response(id)
	if err != nil {
		return 0, err
	}
	if statusKind(rsp.Status) == "failure" {
		return rsp.Status, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return rsp.Status, nil
}

// Release ends the association normally.
func (c *Client) Release() error {
	a := c.a
	if a.closed {
		return nil
	}
	defer func() { a.closed = true; a.conn.Close() }()
	if err := a.write(encodeRelease(pduReleaseRQ)); err != nil {
		return err
	}
	for {
		a.deadline(30 * time.Second)
		p, err := readPDU(a.br, a.maxRecv)
		if err != nil {
			return fmt.Errorf("dimse: release: %w", err)
		}
		switch p.Type {
		case pduReleaseRP:
			return nil
		case pduReleaseRQ: // release collision (PS3.8 9.2.7): answer it
			_ = a.write(encodeRelease(pduReleaseRP))
			return nil
		case pduAbort:
			return &AbortError{}
		}
	}
}

// Abort ends the association with an A-ABORT.
func (c *Client) Abort() { c.a.abort(0, 0) }

// storedObject is an instance read back from the archive, ready to send.
type storedObject struct {
	sopClass, sopInstance, ts string
	file                      []byte
	datasetOffset             int64
}

func readStored(ctx context.Context, ar Archive, in *radmark.Instance) (*storedObject, error) {
	rc, err := ar.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		return nil, fmt.Errorf("stored instance %s: %w", in.SOPInstanceUID, err)
	}
	return &storedObject{sopClass: string(in.SOPClassUID), sopInstance: string(in.SOPInstanceUID),
		ts: f.TransferSyntax.UID, file: b, datasetOffset: f.DatasetOffset}, nil
}

// encodedFor returns the data set in a syntax the association accepted for
// the object's SOP class: as stored if possible, otherwise in explicit or
// implicit VR little endian, decompressed by the archive when it is stored
// compressed.
func (o *storedObject) encodedFor(ctx context.Context, ar Archive, in *radmark.Instance, c *Client) (ts string, data []byte, err error) {
	if c.Accepted(o.sopClass, o.ts) {
		return o.ts, o.file[o.datasetOffset:], nil
	}
	file := o.file
	for _, alt := range []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian} {
		if !c.Accepted(o.sopClass, alt) {
			continue
		}
		if src, _ := dicom.LookupTransferSyntax(o.ts); src.Encapsulated {
			rc, _, err := ar.Encoded(ctx, in, dicom.ExplicitVRLittleEndian)
			if err != nil {
				return "", nil, fmt.Errorf("the peer accepts %s only uncompressed: %w", o.sopClass, err)
			}
			file, err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return "", nil, err
			}
		}
		f, err := dicom.ParseBytes(file, dicom.ParseOptions{})
		if err != nil {
			return "", nil, err
		}
		if f.TransferSyntax.UID == alt {
			return alt, file[f.DatasetOffset:], nil
		}
		var buf bytes.Buffer
		if err := dicom.WriteDatasetSyntax(&buf, f.Dataset, alt); err != nil {
			return "", nil, err
		}
		return alt, buf.Bytes(), nil
	}
	return "", nil, fmt.Errorf("the peer accepted no presentation context for %s", o.sopClass)
}

// storageContexts proposes, for each SOP class and stored transfer syntax,
// the stored syntax and the uncompressed little endian ones.
func storageContexts(instances []*radmark.Instance) []ProposedContext {
	var out []ProposedContext
	seen := map[string]bool{}
	for _, in := range instances {
		cls, ts := string(in.SOPClassUID), string(in.TransferSyntaxUID)
		if ts != dicom.ExplicitVRLittleEndian && ts != dicom.ImplicitVRLittleEndian && !seen[cls+"|"+ts] {
			seen[cls+"|"+ts] = true
			out = append(out, ProposedContext{AbstractSyntax: cls, TransferSyntaxes: []string{ts}})
		}
		if !seen[cls] {
			seen[cls] = true
			out = append(out, ProposedContext{AbstractSyntax: cls, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}})
		}
	}
	return out
}

// SendResult is the outcome of sending one instance.
type SendResult struct {
	SOPInstanceUID radmark.UID
	Status         uint16
	Err            error
}

// Send is the C-STORE SCU: it sends instances from the archive to peer over
// one association (several if they need more than 128 presentation
// contexts) and reports each instance's outcome. The error return is for
// the association itself.
func Send(ctx context.Context, ar Archive, peer Peer, callingAE string, instances []*radmark.Instance) ([]SendResult, error) {
	return send(ctx, ar, peer, DialOptions{CallingAE: callingAE}, instances, "", 0, nil)
}

func send(ctx context.Context, ar Archive, peer Peer, opts DialOptions, instances []*radmark.Instance, origAE string, origID uint16, progress func(SendResult) bool) ([]SendResult, error) {
	results := make([]SendResult, 0, len(instances))
	for start := 0; start < len(instances); {
		// Take as many instances as fit in 128 presentation contexts.
		end := start
		for end < len(instances) && len(storageContexts(instances[start:end+1])) <= 128 {
			end++
		}
		opts.Contexts = storageContexts(instances[start:end])
		c, err := Dial(ctx, peer, opts)
		if err != nil {
			return results, err
		}
		for _, in := range instances[start:end] {
			r := SendResult{SOPInstanceUID: in.SOPInstanceUID}
			obj, err := readStored(ctx, ar, in)
			if err == nil {
				var ts string
				var data []byte
				if ts, data, err = obj.encodedFor(ctx, ar, in, c); err == nil {
					r.Status, err = c.store(obj.sopClass, obj.sopInstance, ts, bytes.NewReader(data), origAE, origID)
					var se *StatusError
					if err != nil && !errors.As(err, &se) {
						c.Abort()
						results = append(results, SendResult{SOPInstanceUID: in.SOPInstanceUID, Status: StatusUnableToProcess, Err: err})
						return results, err
					}
				}
			}
			if err != nil && r.Status == 0 {
				r.Status = StatusUnableToProcess
			}
			r.Err = err
			results = append(results, r)
			if progress != nil && !progress(r) {
				_ = c.Release()
				return results, context.Canceled
			}
		}
		if err := c.Release(); err != nil {
			return results, err
		}
		start = end
	}
	return results, nil
}
