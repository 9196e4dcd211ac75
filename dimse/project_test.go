package dimse

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/sqlite"
)

// projectIntake is a project with a de-identification profile behind the
// real intake service (linkage kept), on the archive of newArchive.
type projectIntake struct {
	ar      *archive.Service
	db      *sqlite.DB
	intake  *intake.Service
	project radmark.ID
	deid    *deid.Deidentifier
}

func newProjectIntake(t *testing.T) *projectIntake {
	t.Helper()
	ar := newArchive(t)
	db := ar.Store.(*sqlite.DB)
	p, err := (&annotation.Service{Store: db}).CreateProject(t.Context(), annotation.Op{Actor: "mgr"}, "Project AE", "")
	if err != nil {
		t.Fatal(err)
	}
	profile := &deid.Profile{Version: 1, Name: "basic"}
	ev := &radmark.AuditEvent{ID: annotation.NewID(), Time: time.Now(), Actor: "mgr", Action: "deid.profile.put", ObjectType: "project", ObjectID: string(p.ID)}
	if err := db.PutDeidProfile(t.Context(), p.ID, profile, ev); err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{3}, 32)
	sealer, err := deid.NewSealer(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	d, err := deid.New(*profile, deid.ProjectKey(secret, string(p.ID)))
	if err != nil {
		t.Fatal(err)
	}
	svc := &intake.Service{Archive: ar, Store: db, Blobs: ar.Blobs,
		Deid: &deid.Service{Profiles: db, Sealer: sealer, SiteSecret: secret}}
	return &projectIntake{ar: ar, db: db, intake: svc, project: p.ID, deid: d}
}

// linked reports whether the project keeps a linkage record of the
// de-identified instance sop.
func (pi *projectIntake) linked(t *testing.T, sop string) bool {
	t.Helper()
	ev := &radmark.AuditEvent{ID: annotation.NewID(), Time: time.Now(), Actor: "admin", Action: "deid.linkage.read", ObjectType: "instance", ObjectID: sop}
	_, _, err := pi.db.DeidLinkage(t.Context(), pi.project, sop, ev)
	if err != nil && radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatal(err)
	}
	return err == nil
}

// TestProjectAbortMidTransfer: an association into a project AE title
// aborted in the middle of a data set leaves nothing half-stored: no
// instance, no linkage, nothing in the quarantine, no spool file. The
// same data set sent whole is then stored with its linkage.
func TestProjectAbortMidTransfer(t *testing.T) {
	pi := newProjectIntake(t)
	srv, p := startServer(t, Config{Projects: []ProjectAE{{AETitle: "PROJ", Project: string(pi.project)}}, ProjectStore: pi.intake}, pi.ar)
	const ct, sop = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5"
	ds := &dicom.Dataset{}
	ds.SetString(dicom.TagSOPClassUID, ct)
	ds.SetString(dicom.TagSOPInstanceUID, sop)
	ds.SetString(dicom.TagStudyInstanceUID, "1.2.3")
	ds.SetString(dicom.TagSeriesInstanceUID, "1.2.3.4")
	ds.SetString(dicom.TagPatientID, "MRN-77")
	ds.SetStringVR(dicom.TagPatientName, dicom.PN, "Doe^John")
	ds.SetString(dicom.TagModality, "CT")
	ds.SetString(dicom.TagPhotometricInterpretation, "MONOCHROME2")
	for tag, v := range map[dicom.Tag]int{dicom.TagSamplesPerPixel: 1, dicom.TagRows: 5120, dicom.TagColumns: 7168,
		dicom.TagBitsAllocated: 16, dicom.TagBitsStored: 16, dicom.TagHighBit: 15, dicom.TagPixelRepresentation: 0} {
		ds.SetIntsVR(tag, dicom.US, v)
	}
	ds.SetBytes(dicom.TagPixelData, dicom.OW, make([]byte, 70<<20)) // beyond the in-memory spool
	var data bytes.Buffer
	if err := dicom.WriteDatasetSyntax(&data, ds, dicom.ExplicitVRLittleEndian); err != nil {
		t.Fatal(err)
	}
	dial := func() (*Client, *presentationContext) {
		cl, err := Dial(context.Background(), Peer{AETitle: "PROJ", Host: "127.0.0.1", Port: p},
			DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: ct, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}}}})
		if err != nil {
			t.Fatal(err)
		}
		return cl, cl.context(ct, "")
	}
	send := func(cl *Client, pc *presentationContext, b []byte, last bool) {
		cmd := (&Command{Field: CStoreRQ, MessageID: 1, AffectedSOPClassUID: ct, AffectedSOPInstanceUID: sop, HasDataSet: true}).encode()
		cl.a.write(append(appendPDataHeader(nil, pc.ID, true, true, len(cmd)), cmd...))
		for off := 0; off < len(b); off += 60000 {
			end := min(off+60000, len(b))
			cl.a.write(append(appendPDataHeader(nil, pc.ID, false, last && end == len(b), end-off), b[off:end]...))
		}
	}

	cl, pc := dial()
	send(cl, pc, data.Bytes()[:data.Len()-1000], false)
	cl.Abort()
	waitSpoolEmpty(t, srv)
	if _, _, n, _ := pi.db.Counts(t.Context()); n != 0 {
		t.Errorf("%d instances stored from an aborted transfer", n)
	}
	copyUID := pi.deid.UID(sop)
	if pi.linked(t, copyUID) {
		t.Error("an aborted transfer left a linkage record")
	}
	if held, err := pi.db.Quarantine(t.Context(), pi.project); err != nil || len(held) != 0 {
		t.Errorf("quarantine after an aborted transfer: %v %v", held, err)
	}

	// Whole, the same data set is stored de-identified, with its linkage.
	cl, pc = dial()
	send(cl, pc, data.Bytes(), true)
	m, err := cl.a.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if m.cmd.Status != StatusCoerced {
		t.Fatalf("C-STORE status 0x%04X (%s), want 0xB000", m.cmd.Status, m.cmd.ErrorComment)
	}
	m.close()
	cl.Release()
	if _, err := pi.db.Instance(t.Context(), radmark.UID(copyUID)); err != nil {
		t.Errorf("the de-identified copy %s: %v", copyUID, err)
	}
	if !pi.linked(t, copyUID) {
		t.Error("the stored copy has no linkage record")
	}
	if _, err := pi.db.Instance(t.Context(), sop); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("the original is in the archive: %v", err)
	}
}

// TestProjectTLS: dcmtk's storescu over TLS (PS3.15 B.1, client
// certificate required) into a project AE title stores the de-identified
// copy only; without TLS the same send fails.
func TestProjectTLS(t *testing.T) {
	pi := newProjectIntake(t)
	certFile, keyFile, _, _ := selfSigned(t)
	cfg, err := TLSConfig(certFile, keyFile, certFile)
	if err != nil {
		t.Fatal(err)
	}
	_, p := startServer(t, Config{TLS: cfg, Projects: []ProjectAE{{AETitle: "PROJ", Project: string(pi.project)}}, ProjectStore: pi.intake}, pi.ar)
	file := filepath.Join(testenv.SharedData(t), "annotations", "dcmqi_liver-seg_ct-3slice", "images", "01.dcm")
	f, err := dicom.ParseFile(file, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	sop := f.Dataset.String(dicom.TagSOPInstanceUID)
	if out, err := dcmtk(t, "storescu", "-aec", "PROJ", "127.0.0.1", port(p), file); err == nil {
		t.Fatalf("plain storescu accepted by a TLS server\n%s", out)
	}
	out, err := dcmtk(t, "storescu", "-v", "-aec", "PROJ", "+tls", keyFile, certFile, "+cf", certFile, "127.0.0.1", port(p), file)
	if err != nil {
		t.Fatalf("storescu +tls: %v\n%s", err, out)
	}
	copyUID := pi.deid.UID(sop)
	if _, err := pi.db.Instance(t.Context(), radmark.UID(copyUID)); err != nil {
		t.Fatalf("the de-identified copy %s after storescu +tls: %v\n%s", copyUID, err, out)
	}
	if _, err := pi.db.Instance(t.Context(), radmark.UID(sop)); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Errorf("the original is in the archive: %v", err)
	}
	if !pi.linked(t, copyUID) {
		t.Error("the copy stored over TLS has no linkage record")
	}
}
