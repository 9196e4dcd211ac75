package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// PDU types (PS3.8 9.3).
const (
	pduAssociateRQ = 0x01
	pduAssociateAC = 0x02
	pduAssociateRJ = 0x03
	pduPData       = 0x04
	pduReleaseRQ   = 0x05
	pduReleaseRP   = 0x06
	pduAbort       = 0x07
)

// Item types of the variable part of A-ASSOCIATE PDUs (PS3.8 9.3.2, 9.3.3,
// PS3.7 D.3.3).
const (
	itemApplicationContext = 0x10
	itemPresentationRQ     = 0x20
	itemPresentationAC     = 0x21
	itemAbstractSyntax     = 0x30
	itemTransferSyntax     = 0x40
	itemUserInformation    = 0x50
	itemMaxLength          = 0x51
	itemImplementationUID  = 0x52
	itemAsyncOps           = 0x53
	itemRoleSelection      = 0x54
	itemImplementationName = 0x55
	itemUserIdentityRQ     = 0x58
	itemUserIdentityAC     = 0x59
)

// ApplicationContext is the DICOM application context name (PS3.7 A.2.1).
const ApplicationContext = "1.2.840.10008.3.1.1.1"

// ErrProtocol is wrapped by every error about a malformed PDU or message.
var ErrProtocol = errors.New("dimse: protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// errPDUTooLong reports a PDU longer than this side accepts; it is checked
// before anything is allocated.
var errPDUTooLong = errors.New("dimse: PDU longer than the negotiated maximum")

// pdu is one raw protocol data unit.
type pdu struct {
	Type byte
	Body []byte
}

// readPDU reads one PDU whose body may be at most limit bytes.
func readPDU(r io.Reader, limit uint32) (pdu, error) {
	return readPDUInto(r, limit, nil)
}

// readPDUInto is readPDU reading the body into *buf when it is large
// enough (and growing it when not): a data transfer reads one PDU after
// another, and a new body for each would be garbage at network speed.
// The body is valid until the next call with the same buf.
func readPDUInto(r io.Reader, limit uint32, buf *[]byte) (pdu, error) {
	var hdr [6]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return pdu{}, err
	}
	n := binary.BigEndian.Uint32(hdr[2:])
	if hdr[0] < pduAssociateRQ || hdr[0] > pduAbort {
		return pdu{}, protoErr("unknown PDU type 0x%02X", hdr[0])
	}
	if n > limit {
		return pdu{Type: hdr[0]}, fmt.Errorf("%w: %d bytes, limit %d", errPDUTooLong, n, limit)
	}
	var body []byte
	if buf == nil {
		body = make([]byte, n)
	} else {
		if uint32(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		body = (*buf)[:n]
	}
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return pdu{}, err
	}
	return pdu{Type: hdr[0], Body: body}, nil
}

func appendPDUHeader(b []byte, typ byte, length int) []byte {
	return append(b, typ, 0, byte(length>>24), byte(length>>16), byte(length>>8), byte(length))
}

// PresentationContext is one proposed or accepted presentation context.
type PresentationContext struct {
	ID             byte
	AbstractSyntax string
	// TransferSyntaxes are those proposed (request) or the one accepted.
	TransferSyntaxes []string
	// Result in an A-ASSOCIATE-AC (PS3.8 9.3.3.2): 0 acceptance, 1 user
	// rejection, 2 no reason, 3 abstract syntax not supported, 4 transfer
	// syntaxes not supported.
	Result byte
}

// Presentation context results.
const (
	pcAccepted                   = 0
	pcUserRejection              = 1
	pcAbstractSyntaxNotSupported = 3
	pcTransferSyntaxNotSupported = 4
)

// RoleSelection is an SCP/SCU role selection sub-item (PS3.7 D.3.3.4).
type RoleSelection struct {
	SOPClass string
	SCU, SCP bool
}

// UserIdentity is the user identity negotiation sub-item (PS3.7 D.3.3.7).
type UserIdentity struct {
	Type             byte // 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT
	PositiveResponse bool
	Primary          []byte
	Secondary        []byte
}

// associate is the content of an A-ASSOCIATE-RQ or -AC.
type associate struct {
	ProtocolVersion    uint16
	CalledAE           string
	CallingAE          string
	ApplicationContext string
	Contexts           []PresentationContext
	MaxPDULength       uint32
	ImplementationUID  string
	ImplementationName string
	// AsyncInvoked/Performed are the maximum numbers of outstanding
	// operations; 0 if the item was absent (meaning 1).
	AsyncInvoked, AsyncPerformed uint16
	Roles                        []RoleSelection
	Identity                     *UserIdentity
	IdentityResponse             []byte // AC only
}

func trimAE(b []byte) string { return strings.TrimRight(strings.TrimLeft(string(b), " "), " \x00") }

func padAE(s string) []byte {
	b := []byte(fmt.Sprintf("%-16s", s))
	return b[:16]
}

// decodeAssociate parses the body of an A-ASSOCIATE-RQ (rq) or -AC.
func decodeAssociate(b []byte, rq bool) (*associate, error) {
	if len(b) < 68 {
		return nil, protoErr("A-ASSOCIATE body of %d bytes is shorter than its 68-byte fixed part", len(b))
	}
	a := &associate{
		ProtocolVersion: binary.BigEndian.Uint16(b[0:2]),
		CalledAE:        trimAE(b[4:20]),
		CallingAE:       trimAE(b[20:36]),
	}
	for rest := b[68:]; len(rest) > 0; {
		typ, val, next, err := nextItem(rest)
		if err != nil {
			return nil, err
		}
		rest = next
		switch typ {
		case itemApplicationContext:
			a.ApplicationContext = trimUID(val)
		case itemPresentationRQ, itemPresentationAC:
			if (typ == itemPresentationRQ) != rq {
				return nil, protoErr("presentation context item 0x%02X in the wrong PDU", typ)
			}
			pc, err := decodePresentation(val, rq)
			if err != nil {
				return nil, err
			}
			a.Contexts = append(a.Contexts, pc)
		case itemUserInformation:
			if err := a.decodeUserInfo(val); err != nil {
				return nil, err
			}
		default:
			return nil, protoErr("unknown A-ASSOCIATE item type 0x%02X", typ)
		}
	}
	return a, nil
}

// nextItem splits a type/reserved/2-byte-length item off b.
func nextItem(b []byte) (typ byte, val, rest []byte, err error) {
	if len(b) < 4 {
		return 0, nil, nil, protoErr("truncated item header")
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if 4+n > len(b) {
		return 0, nil, nil, protoErr("item 0x%02X of %d bytes overruns its PDU", b[0], n)
	}
	return b[0], b[4 : 4+n], b[4+n:], nil
}

func trimUID(b []byte) string { return strings.TrimRight(string(b), "\x00 ") }

func decodePresentation(b []byte, rq bool) (PresentationContext, error) {
	if len(b) < 4 {
		return PresentationContext{}, protoErr("presentation context item of %d bytes", len(b))
	}
	pc := PresentationContext{ID: b[0], Result: b[2]}
	for rest := b[4:]; len(rest) > 0; {
		typ, val, next, err := nextItem(rest)
		if err != nil {
			return pc, err
		}
		rest = next
		switch typ {
		case itemAbstractSyntax:
			pc.AbstractSyntax = trimUID(val)
		case itemTransferSyntax:
			pc.TransferSyntaxes = append(pc.TransferSyntaxes, trimUID(val))
		default:
			return pc, protoErr("unknown presentation context sub-item 0x%02X", typ)
		}
	}
	if rq {
		pc.Result = 0
		if pc.AbstractSyntax == "" {
			return pc, protoErr("presentation context %d has no abstract syntax", pc.ID)
		}
	}
	if pc.ID%2 == 0 {
		return pc, protoErr("presentation context ID %d is even", pc.ID)
	}
	return pc, nil
}

func (a *associate) decodeUserInfo(b []byte) error {
	for rest := b; len(rest) > 0; {
		typ, val, next, err := nextItem(rest)
		if err != nil {
			return err
		}
		rest = next
		switch typ {
		case itemMaxLength:
			if len(val) != 4 {
				return protoErr("maximum length item of %d bytes", len(val))
			}
			a.MaxPDULength = binary.BigEndian.Uint32(val)
		case itemImplementationUID:
			a.ImplementationUID = trimUID(val)
		case itemImplementationName:
			a.ImplementationName = trimAE(val)
		case itemAsyncOps:
			if len(val) != 4 {
				return protoErr("asynchronous operations item of %d bytes", len(val))
			}
			a.AsyncInvoked = binary.BigEndian.Uint16(val[0:2])
			a.AsyncPerformed = binary.BigEndian.Uint16(val[2:4])
		case itemRoleSelection:
			if len(val) < 2 {
				return protoErr("role selection item of %d bytes", len(val))
			}
			n := int(binary.BigEndian.Uint16(val[0:2]))
			if 2+n+2 != len(val) {
				return protoErr("role selection item lengths disagree")
			}
			a.Roles = append(a.Roles, RoleSelection{SOPClass: trimUID(val[2 : 2+n]), SCU: val[2+n] == 1, SCP: val[3+n] == 1})
		case itemUserIdentityRQ:
			if len(val) < 4 {
				return protoErr("user identity item of %d bytes", len(val))
			}
			id := &UserIdentity{Type: val[0], PositiveResponse: val[1] == 1}
			n := int(binary.BigEndian.Uint16(val[2:4]))
			if 4+n+2 > len(val) {
				return protoErr("user identity primary field overruns its item")
			}
			id.Primary = append([]byte(nil), val[4:4+n]...)
			m := int(binary.BigEndian.Uint16(val[4+n : 6+n]))
			if 6+n+m != len(val) {
				return protoErr("user identity secondary field lengths disagree")
			}
			id.Secondary = append([]byte(nil), val[6+n:]...)
			a.Identity = id
		case itemUserIdentityAC:
			if len(val) < 2 || 2+int(binary.BigEndian.Uint16(val[0:2])) != len(val) {
				return protoErr("user identity response item malformed")
			}
			a.IdentityResponse = append([]byte(nil), val[2:]...)
		default:
			// Extended negotiation items (0x56, 0x57) and unknown
			// sub-items are ignored, as PS3.7 D.3.3 allows.
		}
	}
	return nil
}

func appendItem(b []byte, typ byte, val []byte) []byte {
	b = append(b, typ, 0, byte(len(val)>>8), byte(len(val)))
	return append(b, val...)
}

// encode writes the A-ASSOCIATE-RQ (rq) or -AC PDU.
func (a *associate) encode(rq bool) []byte {
	var body []byte
	body = append(body, 0, 1, 0, 0)
	body = append(body, padAE(a.CalledAE)...)
	body = append(body, padAE(a.CallingAE)...)
	body = append(body, make([]byte, 32)...)
	body = appendItem(body, itemApplicationContext, []byte(ApplicationContext))
	for _, pc := range a.Contexts {
		var v []byte
		if rq {
			v = append(v, pc.ID, 0, 0, 0)
			v = appendItem(v, itemAbstractSyntax, []byte(pc.AbstractSyntax))
			for _, ts := range pc.TransferSyntaxes {
				v = appendItem(v, itemTransferSyntax, []byte(ts))
			}
			body = appendItem(body, itemPresentationRQ, v)
			continue
		}
		v = append(v, pc.ID, 0, pc.Result, 0)
		ts := ""
		if len(pc.TransferSyntaxes) > 0 {
			ts = pc.TransferSyntaxes[0]
		}
		v = appendItem(v, itemTransferSyntax, []byte(ts))
		body = appendItem(body, itemPresentationAC, v)
	}
	var ui []byte
	var ml [4]byte
	binary.BigEndian.PutUint32(ml[:], a.MaxPDULength)
	ui = appendItem(ui, itemMaxLength, ml[:])
	ui = appendItem(ui, itemImplementationUID, []byte(a.ImplementationUID))
	if a.AsyncInvoked != 0 || a.AsyncPerformed != 0 {
		ui = appendItem(ui, itemAsyncOps, []byte{byte(a.AsyncInvoked >> 8), byte(a.AsyncInvoked), byte(a.AsyncPerformed >> 8), byte(a.AsyncPerformed)})
	}
	for _, r := range a.Roles {
		v := []byte{byte(len(r.SOPClass) >> 8), byte(len(r.SOPClass))}
		v = append(v, r.SOPClass...)
		v = append(v, boolByte(r.SCU), boolByte(r.SCP))
		ui = appendItem(ui, itemRoleSelection, v)
	}
	ui = appendItem(ui, itemImplementationName, []byte(a.ImplementationName))
	if rq && a.Identity != nil {
		id := a.Identity
		v := []byte{id.Type, boolByte(id.PositiveResponse), byte(len(id.Primary) >> 8), byte(len(id.Primary))}
		v = append(v, id.Primary...)
		v = append(v, byte(len(id.Secondary)>>8), byte(len(id.Secondary)))
		v = append(v, id.Secondary...)
		ui = appendItem(ui, itemUserIdentityRQ, v)
	}
	if !rq && a.IdentityResponse != nil {
		v := []byte{byte(len(a.IdentityResponse) >> 8), byte(len(a.IdentityResponse))}
		ui = appendItem(ui, itemUserIdentityAC, append(v, a.IdentityResponse...))
	}
	body = appendItem(body, itemUserInformation, ui)
	typ := byte(pduAssociateAC)
	if rq {
		typ = pduAssociateRQ
	}
	return append(appendPDUHeader(nil, typ, len(body)), body...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Rejection is an A-ASSOCIATE-RJ (PS3.8 9.3.4).
type Rejection struct {
	Permanent bool
	Source    byte // 1 service user, 2 service provider (ACSE), 3 service provider (presentation)
	Reason    byte
}

// Rejection reasons used here.
var (
	rejectNoReason        = Rejection{Permanent: true, Source: 1, Reason: 1}
	rejectAppContext      = Rejection{Permanent: true, Source: 1, Reason: 2}
	rejectCallingAE       = Rejection{Permanent: true, Source: 1, Reason: 3}
	rejectCalledAE        = Rejection{Permanent: true, Source: 1, Reason: 7}
	rejectProtocolVersion = Rejection{Permanent: true, Source: 2, Reason: 2}
	rejectLocalLimit      = Rejection{Permanent: false, Source: 3, Reason: 2}
)

func (r Rejection) Error() string {
	kind := "transient"
	if r.Permanent {
		kind = "permanent"
	}
	reason := fmt.Sprintf("reason %d", r.Reason)
	switch {
	case r.Source == 1 && r.Reason == 2:
		reason = "application context name not supported"
	case r.Source == 1 && r.Reason == 3:
		reason = "calling AE title not recognized"
	case r.Source == 1 && r.Reason == 7:
		reason = "called AE title not recognized"
	case r.Source == 2 && r.Reason == 2:
		reason = "protocol version not supported"
	case r.Source == 3 && r.Reason == 1:
		reason = "temporary congestion"
	case r.Source == 3 && r.Reason == 2:
		reason = "local limit exceeded"
	}
	return fmt.Sprintf("dimse: association rejected (%s, source %d): %s", kind, r.Source, reason)
}

func (r Rejection) encode() []byte {
	res := byte(2)
	if r.Permanent {
		res = 1
	}
	return append(appendPDUHeader(nil, pduAssociateRJ, 4), 0, res, r.Source, r.Reason)
}

func decodeRejection(b []byte) (Rejection, error) {
	if len(b) != 4 {
		return Rejection{}, protoErr("A-ASSOCIATE-RJ of %d bytes", len(b))
	}
	return Rejection{Permanent: b[1] == 1, Source: b[2], Reason: b[3]}, nil
}

// AbortError is an A-ABORT received from the peer, or sent because of a
// protocol violation (PS3.8 9.3.8).
type AbortError struct {
	Source byte // 0 service user, 2 service provider
	Reason byte
}

// A-ABORT reasons of the service provider.
const (
	abortNotSpecified     = 0
	abortUnrecognizedPDU  = 1
	abortUnexpectedPDU    = 2
	abortInvalidParameter = 6
)

func (e *AbortError) Error() string {
	return fmt.Sprintf("dimse: association aborted (source %d, reason %d)", e.Source, e.Reason)
}

func encodeAbort(source, reason byte) []byte {
	return append(appendPDUHeader(nil, pduAbort, 4), 0, 0, source, reason)
}

func encodeRelease(typ byte) []byte { return append(appendPDUHeader(nil, typ, 4), 0, 0, 0, 0) }

// pdv is one presentation data value (PS3.8 9.3.5.1, E.2).
type pdv struct {
	ContextID byte
	Command   bool
	Last      bool
	Data      []byte
}

// decodePData splits a P-DATA-TF body into its PDVs.
func decodePData(b []byte) ([]pdv, error) {
	var out []pdv
	for len(b) > 0 {
		if len(b) < 6 {
			return nil, protoErr("truncated PDV item")
		}
		n := binary.BigEndian.Uint32(b[0:4])
		if n < 2 || uint64(n) > uint64(len(b)-4) {
			return nil, protoErr("PDV item length %d invalid for %d remaining bytes", n, len(b)-4)
		}
		mch := b[5]
		if mch&^3 != 0 {
			return nil, protoErr("PDV message control header 0x%02X has reserved bits set", mch)
		}
		out = append(out, pdv{ContextID: b[4], Command: mch&1 != 0, Last: mch&2 != 0, Data: b[6 : 4+n]})
		b = b[4+n:]
	}
	if len(out) == 0 {
		return nil, protoErr("P-DATA-TF without PDV items")
	}
	return out, nil
}

// appendPDataHeader appends the header of a P-DATA-TF carrying one PDV of
// n data bytes.
func appendPDataHeader(b []byte, ctx byte, command, last bool, n int) []byte {
	b = appendPDUHeader(b, pduPData, n+6)
	l := n + 2
	mch := byte(0)
	if command {
		mch |= 1
	}
	if last {
		mch |= 2
	}
	return append(b, byte(l>>24), byte(l>>16), byte(l>>8), byte(l), ctx, mch)
}
