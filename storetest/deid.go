package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/deid"
)

// DeidStores is a metadata store with de-identification storage; the
// archive store keeps the linkage of the instances it indexes.
type DeidStores interface {
	Stores
	radmark.ArchiveStore
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
	// The linkage is kept with its instance, in the index transaction;
	// a duplicate (the same instance re-sent) replaces it.
	rec := Record("2.25.10", "2.25.10.1", "2.25.1", "v1")
	rec.Linkage = &radmark.SealedLinkage{ProjectID: p.ID, KeyID: "k1", Sealed: sealed}
	if res := put(t, s, radmark.PutOptions{}, rec); res[0].Err != nil || res[0].Status != radmark.PutStored {
		t.Fatalf("put with linkage: %+v", res[0])
	}
	again := Record("2.25.10", "2.25.10.1", "2.25.1", "v1")
	again.Linkage = &radmark.SealedLinkage{ProjectID: p.ID, KeyID: "k2", Sealed: append(sealed, 7)}
	if res := put(t, s, radmark.PutOptions{}, again); res[0].Err != nil || res[0].Status != radmark.PutDuplicate {
		t.Fatalf("duplicate with linkage: %+v", res[0])
	}
	// Refused instances keep no linkage: a conflict, an unknown project.
	conflict := Record("2.25.10", "2.25.10.1", "2.25.1", "other bytes")
	conflict.Linkage = &radmark.SealedLinkage{ProjectID: p.ID, KeyID: "k3", Sealed: sealed}
	unknown := Record("2.25.10", "2.25.10.1", "2.25.2", "v1")
	unknown.Linkage = &radmark.SealedLinkage{ProjectID: "no-such-project", KeyID: "k1", Sealed: sealed}
	res := put(t, s, radmark.PutOptions{}, conflict, unknown)
	if radmark.ErrorCode(res[0].Err) != radmark.ECONFLICT || radmark.ErrorCode(res[1].Err) != radmark.ENOTFOUND {
		t.Errorf("conflict and unknown project: %v; %v", res[0].Err, res[1].Err)
	}
	if _, err := s.Instance(ctx(t), "2.25.2"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("an instance whose linkage names no project was indexed: %v", err)
	}
	bad := Record("2.25.10", "2.25.10.1", "2.25.3", "v1")
	bad.Linkage = &radmark.SealedLinkage{ProjectID: p.ID, KeyID: "k1"}
	if res := put(t, s, radmark.PutOptions{}, bad); radmark.ErrorCode(res[0].Err) != radmark.EINVALID {
		t.Errorf("empty sealed linkage: %v", res[0].Err)
	}
	for _, sop := range []string{"2.25.2", "2.25.3"} {
		if _, _, err := s.DeidLinkage(ctx(t), p.ID, sop, NewEvent("admin", "deid.linkage.read", "instance", radmark.ID(sop))); radmark.ErrorCode(err) != radmark.ENOTFOUND {
			t.Errorf("linkage of refused instance %s: %v", sop, err)
		}
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
	q := &deid.QuarantineItem{ProjectID: p.ID, SOPInstanceUID: "2.25.5", Reason: "ultrasound", BlobKey: "quarantine/ab/abcd",
		Linkage: &radmark.SealedLinkage{ProjectID: p.ID, KeyID: "k1", Sealed: []byte{9, 8, 7}}}
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
	key, sealed, err := s.DeidLinkage(ctx(t), p.ID, "2.25.5", NewEvent("admin", "deid.linkage.read", "instance", "2.25.5"))
	if err != nil || key != "k1" || !bytes.Equal(sealed, []byte{9, 8, 7}) {
		t.Errorf("linkage kept with the quarantined item: %q %x %v", key, sealed, err)
	}
	other := &deid.QuarantineItem{ProjectID: p.ID, SOPInstanceUID: "2.25.6", Reason: "ultrasound", BlobKey: "quarantine/ab/abce",
		Linkage: &radmark.SealedLinkage{ProjectID: "another", KeyID: "k1", Sealed: []byte{1}}}
	if err := s.PutQuarantine(ctx(t), other, NewEvent("system", "deid.quarantine", "instance", "2.25.6")); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("quarantine with another project's linkage: %v", err)
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
	if _, _, err := s.DeidLinkage(ctx(t), p.ID, "2.25.5", NewEvent("admin", "deid.linkage.read", "instance", "2.25.5")); err != nil {
		t.Errorf("a released instance lost its linkage: %v", err)
	}

	// A rejected item takes its linkage record with it.
	rejected := &deid.QuarantineItem{ProjectID: p.ID, SOPInstanceUID: "2.25.7", Reason: "burned-in annotation", BlobKey: "quarantine/ab/abcf",
		Linkage: &radmark.SealedLinkage{ProjectID: p.ID, KeyID: "k1", Sealed: []byte{4, 5}}}
	must(t, s.PutQuarantine(ctx(t), rejected, NewEvent("system", "deid.quarantine", "instance", "2.25.7")), "PutQuarantine")
	before = chainLen(t, s)
	ev = NewEvent("alice", "deid.quarantine.reject", "instance", "2.25.7")
	must(t, s.RejectQuarantine(ctx(t), p.ID, "2.25.7", ev), "RejectQuarantine")
	expectAppended(t, s, before, ev)
	if _, _, err := s.DeidLinkage(ctx(t), p.ID, "2.25.7", NewEvent("admin", "deid.linkage.read", "instance", "2.25.7")); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("a rejected instance kept its linkage: %v", err)
	}
	if err := s.RejectQuarantine(ctx(t), p.ID, "2.25.7", NewEvent("alice", "deid.quarantine.reject", "instance", "2.25.7")); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("reject twice: %v", err)
	}
	if _, _, err := s.DeidLinkage(ctx(t), p.ID, "2.25.5", NewEvent("admin", "deid.linkage.read", "instance", "2.25.5")); err != nil {
		t.Errorf("rejecting one instance dropped another's linkage: %v", err)
	}
}
