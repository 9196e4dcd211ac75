package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/workflow"
)

// TestDeidIntoProjects runs `radmark serve` with two project AE titles,
// one project with a de-identification profile and one without, and
// sends them the liver CT slices and their SEG with dcmtk's storescu and
// over STOW-RS: what is stored carries no PHI (the PHI scanner against
// each original), UIDs are remapped the same way by both doors, the SEG
// still references the stored slices, a project without a profile takes
// nothing, an AE not on the project's list is rejected, and a secondary
// capture goes to the quarantine. On both engines.
func TestDeidIntoProjects(t *testing.T) {
	storescu := testenv.LookPath(t, "storescu")
	data := testenv.SharedData(t)
	liverDir := filepath.Join(data, "annotations", "dcmqi_liver-seg_ct-3slice")
	files, _ := filepath.Glob(filepath.Join(liverDir, "images", "*.dcm"))
	files = append(files, filepath.Join(liverDir, "liver.seg.dcm"))
	sc := filepath.Join(data, "multiframe", "SC_rgb_2frame.dcm")
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			flags := storageFlags{data: dir}
			if engine == "postgres" {
				flags.db = testenv.PostgresSchema(t)
			}
			withProfile, without := deidProjects(t, flags)
			key := filepath.Join(t.TempDir(), "linkage.key")
			if err := os.WriteFile(key, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))), 0o600); err != nil {
				t.Fatal(err)
			}
			port := freePort(t)
			args := []string{"--data", dir, "--dicom-port", port, "--dicom-bind", "127.0.0.1", "--deid-key-file", key,
				"--dicom-projects", "LIVER project=" + string(withProfile) + " callers=TESTSCU; NOPROFILE project=" + string(without)}
			if flags.db != "" {
				args = append(args, "--db", flags.db)
			}
			srv := startServer(t, args...)
			send := func(calling, called string, paths ...string) (string, error) {
				cmd := exec.Command(storescu, append([]string{"-v", "-R", "-aet", calling, "-aec", called, "127.0.0.1", port}, paths...)...)
				cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
				out, err := cmd.CombinedOutput()
				return string(out), err
			}

			// A calling AE not on the project's list: rejected.
			if out, err := send("INTRUDER", "LIVER", files[0]); err == nil || !strings.Contains(out, "Rejected") {
				t.Errorf("storescu as INTRUDER: %v, want an association rejection:\n%s", err, out)
			}
			// A project without a profile: every C-STORE fails, with the reason.
			out, _ := send("TESTSCU", "NOPROFILE", files[0])
			if !strings.Contains(out, "Status: 0x124") { // dcmtk knows 0x0124 (Refused: Not Authorized) only by number
				t.Errorf("storescu to a project without a profile did not fail with 0x0124:\n%s", out)
			}
			if out, err := send("TESTSCU", "LIVER", files...); err != nil {
				t.Fatalf("storescu: %v\n%s", err, out)
			}

			d := projectDeidentifier(t, dir, withProfile)
			var ctUIDs []string
			for i, path := range files {
				f, err := dicom.ParseFile(path, dicom.ParseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				o := f.Dataset
				study, series, sop := d.UID(o.String(dicom.TagStudyInstanceUID)), d.UID(o.String(dicom.TagSeriesInstanceUID)), d.UID(o.String(dicom.TagSOPInstanceUID))
				got := wadoInstance(t, srv, study, series, sop)
				if fs := d.Scan(o, got); len(fs) > 0 {
					t.Errorf("%s as stored: PHI scanner: %v", filepath.Base(path), fs)
				}
				if archived(t, srv, "/studies/"+o.String(dicom.TagStudyInstanceUID)+"/instances") {
					t.Errorf("the original study %s is in the archive", o.String(dicom.TagStudyInstanceUID))
				}
				if i < 3 {
					ctUIDs = append(ctUIDs, sop)
					continue
				}
				refs := got.StringsDeep(dicom.TagReferencedSOPInstanceUID)
				if len(refs) == 0 {
					t.Fatal("the stored SEG references nothing")
				}
				for _, ref := range refs {
					if !slices.Contains(ctUIDs, ref) {
						t.Errorf("the stored SEG references %s, not a stored slice %v", ref, ctUIDs)
					}
				}
			}

			// STOW-RS to the project: the same remapping, so duplicates.
			var parts [][]byte
			for _, p := range files {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, b)
			}
			status, resp := stow(t, srv.URL+"/dicomweb/projects/"+string(withProfile)+"/studies", "", parts...)
			if status != 200 || resp.stored() != len(files) || len(resp.failures()) != 0 {
				t.Fatalf("STOW-RS to the project: %d, %d stored, failures %v", status, resp.stored(), resp.failures())
			}
			if status, _ := stow(t, srv.URL+"/dicomweb/projects/"+string(without)+"/studies", "", parts[0]); status != http.StatusForbidden {
				t.Errorf("STOW-RS to a project without a profile: %d, want 403", status)
			}
			var cases []radmark.Case
			getJSON(t, srv.URL+"/api/v1/projects/"+string(withProfile)+"/cases", &cases)
			if len(cases) != 1 || string(cases[0].StudyUID) != d.UID(studyUIDOf(t, files[0])) {
				t.Errorf("cases %+v, want the one de-identified study", cases)
			}

			// A secondary capture may carry burned-in text: quarantined.
			if out, err := send("TESTSCU", "LIVER", sc); err != nil {
				t.Fatalf("storescu of the secondary capture: %v\n%s", err, out)
			}
			var held []deid.QuarantineItem
			getJSON(t, srv.URL+"/api/v1/projects/"+string(withProfile)+"/deid/quarantine", &held)
			if len(held) != 1 || !strings.HasPrefix(held[0].SOPInstanceUID, "2.25.") {
				t.Fatalf("quarantine %+v, want the secondary capture", held)
			}
			if archived(t, srv, "/instances?SOPInstanceUID="+held[0].SOPInstanceUID) {
				t.Errorf("a quarantined instance is in the archive")
			}

			// The linkage opens for an admin, and the look-up is audited.
			var link struct{ Links []deid.Link }
			getJSON(t, srv.URL+"/api/v1/projects/"+string(withProfile)+"/deid/linkage/"+ctUIDs[0], &link)
			if !slices.ContainsFunc(link.Links, func(l deid.Link) bool { return l.Kind == "patient_id" && l.Original == "99000" }) {
				t.Errorf("linkage %+v lacks the original PatientID", link.Links)
			}
			var events []radmark.AuditEvent
			getJSON(t, srv.URL+"/api/v1/audit?action=deid.linkage.read", &events)
			if len(events) != 1 || events[0].ObjectID != ctUIDs[0] {
				t.Errorf("linkage audit events %+v", events)
			}
		})
	}
}

// deidProjects makes, offline, a project with a reading workflow and a
// de-identification profile, and one with a workflow and no profile.
func deidProjects(t *testing.T, flags storageFlags) (withProfile, without radmark.ID) {
	t.Helper()
	db, _, err := openStorage(t.Context(), &flags)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ann := &annotation.Service{Store: db}
	wf := &workflow.Service{Store: db, Annotations: ann}
	op := workflow.Op{Actor: &radmark.Actor{User: &radmark.User{ID: "setup", Name: "setup"}, Via: "cli"}}
	var ids []radmark.ID
	for _, name := range []string{"Liver study", "No profile yet"} {
		p, err := ann.CreateProject(t.Context(), annotation.Op{Actor: "setup"}, name, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wf.PutConfig(t.Context(), op, &radmark.WorkflowConfig{ProjectID: p.ID, Readers: 1,
			ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull}, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	profile := &deid.Profile{Version: 1, Name: "research", Options: deid.Options{RetainLongitudinalModifiedDates: true, CleanDescriptors: true}}
	ev := &radmark.AuditEvent{ID: annotation.NewID(), Time: time.Now(), Actor: "setup", Action: "deid.profile.put", ObjectType: "project", ObjectID: string(ids[0])}
	if err := db.PutDeidProfile(t.Context(), ids[0], profile, ev); err != nil {
		t.Fatal(err)
	}
	return ids[0], ids[1]
}

// projectDeidentifier is the server's de-identifier of a project, from
// the site secret it made in the data folder.
func projectDeidentifier(t *testing.T, dir string, project radmark.ID) *deid.Deidentifier {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(dir, "deid-secret"))
	if err != nil {
		t.Fatalf("the site secret was not made in the data folder: %v", err)
	}
	d, err := deid.New(deid.Profile{Version: 1, Name: "research", Options: deid.Options{RetainLongitudinalModifiedDates: true, CleanDescriptors: true}},
		deid.ProjectKey(secret, string(project)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// wadoInstance retrieves one instance as stored.
func wadoInstance(t *testing.T, srv *server, study, series, sop string) *dicom.Dataset {
	t.Helper()
	r, body := get(t, srv.DICOMweb()+"/studies/"+study+"/series/"+series+"/instances/"+sop, `multipart/related; type="application/dicom"; transfer-syntax=*`)
	if r.StatusCode != 200 {
		t.Fatalf("WADO-RS of %s: %d %s", sop, r.StatusCode, body)
	}
	parts := multipartParts(t, r, body)
	if len(parts) != 1 {
		t.Fatalf("WADO-RS of %s: %d parts", sop, len(parts))
	}
	f, err := dicom.ParseBytes(parts[0], dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f.Dataset
}

// archived reports whether a QIDO-RS search finds anything.
func archived(t *testing.T, srv *server, search string) bool {
	t.Helper()
	r, body := get(t, srv.DICOMweb()+search, "application/dicom+json")
	var found []json.RawMessage
	return r.StatusCode == 200 && json.Unmarshal(body, &found) == nil && len(found) > 0
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	r, body := get(t, url, "application/json")
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, r.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
