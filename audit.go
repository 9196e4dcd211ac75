package radmark

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// AuditEvent records one action on one object. Events form a hash chain:
// each holds the hash of the one before it, and its own hash covers every
// field, so editing or removing a stored event breaks the chain at that
// point (see VerifyAuditChain).
type AuditEvent struct {
	Seq        int64     `json:"seq"` // position in the chain, from 1; set by the store
	ID         ID        `json:"id"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"` // e.g. "project.create", "revision.save", "instance.read"
	ObjectType string    `json:"objectType"`
	ObjectID   string    `json:"objectId"`
	BeforeHash string    `json:"beforeHash,omitempty"`
	AfterHash  string    `json:"afterHash,omitempty"`
	RequestID  string    `json:"requestId,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	PrevHash   string    `json:"prevHash"` // set by the store
	Hash       string    `json:"hash"`     // set by the store
}

// GenesisHash is the PrevHash of the first event.
var GenesisHash = strings.Repeat("0", 64)

// ComputeHash returns the event's hash: sha256 over its fields (PrevHash
// included, Hash excluded) in a fixed order, separated by a byte that
// cannot occur in them unescaped.
func (e *AuditEvent) ComputeHash() string {
	h := sha256.New()
	field := func(s string) {
		h.Write([]byte(strings.ReplaceAll(s, "\x1f", "\x1f\x1f")))
		h.Write([]byte{0x1f, 0x1e})
	}
	field(strconv.FormatInt(e.Seq, 10))
	field(string(e.ID))
	field(e.Time.UTC().Format(time.RFC3339Nano))
	field(e.Actor)
	field(e.Action)
	field(e.ObjectType)
	field(e.ObjectID)
	field(e.BeforeHash)
	field(e.AfterHash)
	field(e.RequestID)
	field(e.Detail)
	field(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// AuditFilter selects audit events; empty fields match all.
type AuditFilter struct {
	ObjectType string
	ObjectID   string
	Actor      string
	Action     string
	From, To   time.Time // inclusive bounds on Time
	AfterSeq   int64     // events with Seq > AfterSeq (paging)
	Limit      int
}

// AuditStore keeps the audit chain.
type AuditStore interface {
	// AppendAudit adds events to the chain in order, setting Seq,
	// PrevHash and Hash. Stores also append the events of their mutations
	// themselves, in the mutation's transaction.
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// AuditEvents returns events matching f in chain order.
	AuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// ScanAudit calls fn for every event from Seq 1 in order, as stored
	// (nothing recomputed), until fn returns an error.
	ScanAudit(ctx context.Context, fn func(*AuditEvent) error) error
}

// AuditBreak says where a chain is broken.
type AuditBreak struct {
	Seq    int64
	Reason string
}

// AuditVerifier checks a chain as it streams past: feed it every event in
// Seq order from the first; Next returns the first broken link, or nil
// while the chain holds. The last event's integrity against later
// truncation needs the head hash kept elsewhere (see Head).
type AuditVerifier struct {
	prev    string
	nextSeq int64
	count   int64
	broken  *AuditBreak
}

// NewAuditVerifier starts a verification at the genesis.
func NewAuditVerifier() *AuditVerifier { return &AuditVerifier{prev: GenesisHash, nextSeq: 1} }

// Next checks one more event; it returns the first break found so far.
func (v *AuditVerifier) Next(e *AuditEvent) *AuditBreak {
	if v.broken != nil {
		return v.broken
	}
	v.count++
	switch {
	case e.Seq != v.nextSeq:
		v.broken = &AuditBreak{Seq: v.nextSeq, Reason: "event " + strconv.FormatInt(v.nextSeq, 10) + " is missing (next stored is " + strconv.FormatInt(e.Seq, 10) + ")"}
	case e.PrevHash != v.prev:
		v.broken = &AuditBreak{Seq: e.Seq, Reason: "its previous-event hash does not match the hash of event " + strconv.FormatInt(e.Seq-1, 10)}
	case e.ComputeHash() != e.Hash:
		v.broken = &AuditBreak{Seq: e.Seq, Reason: "its content does not match its hash (the event was altered)"}
	}
	v.prev = e.Hash
	v.nextSeq = e.Seq + 1
	return v.broken
}

// Count returns how many events were checked.
func (v *AuditVerifier) Count() int64 { return v.count }

// Head returns the hash of the last event checked (GenesisHash if none).
func (v *AuditVerifier) Head() string { return v.prev }
