package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/deid"
)

// DeidStores is a metadata store with de-identification storage.
type DeidStores interface {
	Stores
	deid.Store
}

// TestDeidStore runs the conformance suite of deid.Store against stores
// made by open: profile versions, sealed linkage with audited look-ups, the
// quarantine, and the audit event each mutation writes (none for a
// refused one).
func TestDeidStore(t *testing.T, open func(t *testing.T) DeidStores) {
	tests := []struct {
		name string
		fn   func(*testing.T, DeidStores)
	}{
		{"Profiles", testDeidProfiles},
		{"Linkage", testDeidLinkage},
		{"Quarantine", testDeidQuarantine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func testDeidProfiles(t *testing.T, s DeidStores) {
	p := createProject(t, s, "Deid")
	if _, err := s.CurrentDeidProfile(ctx(t), string(p.ID)); !errors.Is(err, deid.ErrNoProfile) {
		t.Errorf("profile before any: %v", err)
	}
	before := chainLen(t, s)
	v1 := &deid.Profile{Version: 1, Name: "basic", Options: deid.Options{RetainLongitudinalModifiedDates: true}, CreatedBy: "alice"}
	ev := NewEvent("alice", "deid.profile.put", "project", p.ID)
	must(t, s.PutDeidProfile(ctx(t), p.ID, v1, ev), "PutDeidProfile")
	expectAppended(t, s, before, ev)
	before = chainLen(t, s)
	if err := s.PutDeidProfile(ctx(t), p.ID, v1, NewEvent("alice", "deid.profile.put", "project", p.ID)); radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Errorf("same version again: %v", err)
	}
	bad := &deid.Profile{Version: 2, Name: "private", Options: deid.Options{RetainSafePrivate: true}}
	if err := s.PutDeidProfile(ctx(t), p.ID, bad, NewEvent("alice", "deid.profile.put", "project", p.ID)); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("invalid profile: %v", err)
	}
	if err := s.PutDeidProfile(ctx(t), "no-such-project", &deid.Profile{Version: 1, Name: "x"}, NewEvent("alice", "deid.profile.put", "project", "x")); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("unknown project: %v", err)
	}
	expectAppended(t, s, before)
	v2 := &deid.Profile{Version: 2, Name: "safe private", Options: deid.Options{RetainSafePrivate: true},
		SafePrivate: []deid.PrivateTag{{Group: 0x0029, Creator: "ACME", Element: 1}}, CreatedBy: "bob"}
	must(t, s.PutDeidProfile(ctx(t), p.ID, v2, NewEvent("bob", "deid.profile.put", "project", p.ID)), "PutDeidProfile v2")
	cur, err := s.CurrentDeidProfile(ctx(t), string(p.ID))
	must(t, err, "CurrentDeidProfile")
	if cur.Version != 2 || len(cur.SafePrivate) != 1 || cur.SafePrivate[0].Creator != "ACME" || cur.CreatedBy != "bob" || !cur.CreatedAt.Equal(v2.CreatedAt) {
		t.Errorf("current = %+v, want %+v", cur, v2)
	}
	all, err := s.DeidProfiles(ctx(t), p.ID)
	must(t, err, "DeidProfiles")
	if len(all) != 2 || all[0].Version != 1 || !all[0].Options.RetainLongitudinalModifiedDates {
		t.Errorf("versions = %+v", all)
	}
}

func testDeidLinkage(t *testing.T, s DeidStores) {
	p := createProject(t, s, "Linkage")
	sealed := []byte{0, 1, 2, 0xff, 'x'}
	must(t, s.PutDeidLinkage(ctx(t), string(p.ID), "2.25.1", "k1", sealed), "PutDeidLinkage")
	must(t, s.PutDeidLinkage(ctx(t), string(p.ID), "2.25.1", "k2", append(sealed, 7)), "PutDeidLinkage again")
	if err := s.PutDeidLinkage(ctx(t), "no-such-project", "2.25.1", "k1", sealed); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("unknown project: %v", err)
	}
	before := chainLen(t, s)
	ev := NewEvent("admin", "deid.linkage.read", "instance", "2.25.1")
	key, got, err := s.DeidLinkage(ctx(t), p.ID, "2.25.1", ev)
	must(t, err, "DeidLinkage")
	if key != "k2" || !bytes.Equal(got, append(sealed, 7)) {
		t.Errorf("linkage = %q %x", key, got)
	}
	expectAppended(t, s, before, ev)
	before = chainLen(t, s)
	if _, _, err := s.DeidLinkage(ctx(t), p.ID, "2.25.9", NewEvent("admin", "deid.linkage.read", "instance", "2.25.9")); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("missing linkage: %v", err)
	}
	expectAppended(t, s, before)
}

func testDeidQuarantine(t *testing.T, s DeidStores) {
	p := createProject(t, s, "Quarantine")
	before := chainLen(t, s)
	q := &deid.QuarantineItem{ProjectID: p.ID, SOPInstanceUID: "2.25.5", Reason: "ultrasound", BlobKey: "quarantine/ab/abcd"}
	ev := NewEvent("system", "deid.quarantine", "instance", "2.25.5")
	must(t, s.PutQuarantine(ctx(t), q, ev), "PutQuarantine")
	expectAppended(t, s, before, ev)
	if err := s.PutQuarantine(ctx(t), q, NewEvent("system", "deid.quarantine", "instance", "2.25.5")); radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Errorf("quarantine twice: %v", err)
	}
	list, err := s.Quarantine(ctx(t), p.ID)
	must(t, err, "Quarantine")
	if len(list) != 1 || list[0].Reason != "ultrasound" || list[0].BlobKey != q.BlobKey || !list[0].CreatedAt.Equal(q.CreatedAt) {
		t.Errorf("quarantine = %+v", list)
	}
	must(t, s.ReleaseQuarantine(ctx(t), p.ID, "2.25.5", NewEvent("alice", "deid.quarantine.release", "instance", "2.25.5")), "ReleaseQuarantine")
	if err := s.ReleaseQuarantine(ctx(t), p.ID, "2.25.5", NewEvent("alice", "deid.quarantine.release", "instance", "2.25.5")); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("release twice: %v", err)
	}
	list, err = s.Quarantine(ctx(t), p.ID)
	must(t, err, "Quarantine")
	if len(list) != 0 {
		t.Errorf("after release: %+v", list)
	}
}
