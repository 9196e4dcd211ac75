package dimse

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/sqlite"
)

func newArchive(t *testing.T) *archive.Service {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(dir, "radmark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := fsblob.Open(context.Background(), filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &archive.Service{Store: db, Blobs: blobs}
}

// startServer serves cfg on a loopback port and returns the port.
func startServer(t *testing.T, cfg Config, ar Archive) (*Server, int) {
	t.Helper()
	if cfg.AETitle == "" {
		cfg.AETitle = "RADMARK"
	}
	cfg.SpoolDir = t.TempDir()
	srv, err := NewServer(cfg, ar)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().(*net.TCPAddr).Port
}

// dcmtk runs a dcmtk program with TCP_NODELAY set (DESIGN.md pitfalls).
func dcmtk(t *testing.T, program string, args ...string) (string, error) {
	t.Helper()
	path := testenv.LookPath(t, program)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func port(p int) string { return strconv.Itoa(p) }

func TestEchoSCU(t *testing.T) {
	_, p := startServer(t, Config{}, newArchive(t))
	if out, err := dcmtk(t, "echoscu", "-aet", "ECHOSCU", "-aec", "RADMARK", "127.0.0.1", port(p)); err != nil {
		t.Fatalf("echoscu: %v\n%s", err, out)
	}
	// Our own SCU against our SCP.
	c, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Echo(); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedCallingAE(t *testing.T) {
	_, p := startServer(t, Config{AllowedCallers: []string{"GOODAE"}}, newArchive(t))
	out, err := dcmtk(t, "echoscu", "-aet", "BADAE", "-aec", "RADMARK", "127.0.0.1", port(p))
	if err == nil || !strings.Contains(out, "Calling AE Title Not Recognized") {
		t.Fatalf("echoscu with a refused AE title: err %v\n%s", err, out)
	}
	if out, err := dcmtk(t, "echoscu", "-aet", "GOODAE", "-aec", "RADMARK", "127.0.0.1", port(p)); err != nil {
		t.Fatalf("echoscu with an allowed AE title: %v\n%s", err, out)
	}
	out, err = dcmtk(t, "echoscu", "-aet", "GOODAE", "-aec", "OTHER", "127.0.0.1", port(p))
	if err == nil || !strings.Contains(out, "Called AE Title Not Recognized") {
		t.Fatalf("echoscu to a wrong called AE title: err %v\n%s", err, out)
	}
	_, p2 := startServer(t, Config{AllowedHosts: []string{"10.0.0.0/8"}}, newArchive(t))
	if out, err := dcmtk(t, "echoscu", "-aec", "RADMARK", "127.0.0.1", port(p2)); err == nil {
		t.Fatalf("echoscu from a host outside the allow-list was accepted\n%s", out)
	}
}

func TestAssociationLimit(t *testing.T) {
	_, p := startServer(t, Config{MaxAssociations: 1}, newArchive(t))
	held, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "HOLDER", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := dcmtk(t, "echoscu", "-aec", "RADMARK", "127.0.0.1", port(p))
	if err == nil || !strings.Contains(out, "Local Limit Exceeded") {
		t.Fatalf("second association beyond the limit: err %v\n%s", err, out)
	}
	if err := held.Echo(); err != nil {
		t.Fatalf("the held association stopped working: %v", err)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	// The handler frees its slot just after answering the release.
	for i := 0; ; i++ {
		out, err := dcmtk(t, "echoscu", "-aec", "RADMARK", "127.0.0.1", port(p))
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("echoscu after the slot was freed: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dump returns dcmdump's listing of a file's data set (without file meta).
func dump(t *testing.T, path string) string {
	t.Helper()
	out, err := dcmtk(t, "dcmdump", "-q", "+L", path)
	if err != nil {
		t.Fatalf("dcmdump %s: %v\n%s", path, err, out)
	}
	// Compare content, not encoding: dcmtk's SCUs re-encode sequences
	// with explicit lengths, recompute group lengths and drop data set
	// trailing padding, so lengths, delimiters, group lengths and
	// (FFFC,FFFC) are left out.
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "(0002,") || strings.HasPrefix(l, "#") || strings.Contains(l, "Delimitation") ||
			strings.HasPrefix(l, "(fffc,fffc)") || (len(l) > 11 && l[0] == '(' && l[6:11] == "0000)") {
			continue
		}
		if i := strings.LastIndex(l, "#"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		l = strings.NewReplacer("with explicit length ", "", "with undefined length ", "").Replace(l)
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// checkStored checks that the archive holds file's data set: byte for byte
// when radmark's SCU sent the file's bytes (exact), equal in dcmdump's
// listing when dcmtk's storescu re-encoded them on the way.
func checkStored(t *testing.T, ar *archive.Service, file string, wantTS string, exact bool) {
	t.Helper()
	f, err := dicom.ParseFile(file, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	sop := radmark.UID(f.Dataset.String(dicom.TagSOPInstanceUID))
	ins, err := ar.Select(context.Background(), "", "", sop)
	if err != nil {
		t.Fatalf("%s: instance %s not in the archive: %v", file, sop, err)
	}
	rc, err := ar.Open(context.Background(), ins[0])
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	sf, err := dicom.ParseBytes(stored, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatalf("stored %s does not parse: %v", sop, err)
	}
	if wantTS != "" && sf.TransferSyntax.UID != wantTS {
		t.Errorf("%s stored in %s, want %s", filepath.Base(file), sf.TransferSyntax.UID, wantTS)
	}
	orig, _ := os.ReadFile(file)
	if exact {
		if !bytes.Equal(orig[f.DatasetOffset:], stored[sf.DatasetOffset:]) {
			t.Errorf("%s: stored data set differs from the file's bytes", filepath.Base(file))
		}
		return
	}
	tmp := filepath.Join(t.TempDir(), "stored.dcm")
	os.WriteFile(tmp, stored, 0o600)
	if a, b := dump(t, file), dump(t, tmp); a != b {
		t.Errorf("%s: stored data set differs in dcmdump from the file", filepath.Base(file))
	}
}

func dicomFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".dcm") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func storeSeries(t *testing.T, p int, files []string, extra ...string) {
	t.Helper()
	args := append([]string{"-aet", "STORESCU", "-aec", "RADMARK"}, extra...)
	args = append(args, "127.0.0.1", port(p))
	args = append(args, files...)
	if out, err := dcmtk(t, "storescu", args...); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
}

func TestStoreSCUSeries(t *testing.T) {
	data := testenv.SharedData(t)
	ar := newArchive(t)
	_, p := startServer(t, Config{}, ar)
	files := dicomFiles(t, filepath.Join(data, "ct", "tcia_lung-pet-ct-dx_A0002_chest-8mm"))
	storeSeries(t, p, files)
	for _, f := range files {
		checkStored(t, ar, f, "", false)
	}
	_, _, n, err := ar.Store.Counts(context.Background())
	if err != nil || n != len(files) {
		t.Fatalf("archive holds %d instances (%v), want %d", n, err, len(files))
	}
	// A second send of the same series is a success (identical duplicates).
	storeSeries(t, p, files[:3])
}

func TestStoreSCUTransferSyntaxes(t *testing.T) {
	data := testenv.SharedData(t)
	for _, file := range dicomFiles(t, filepath.Join(data, "syntaxes", "generated_from_tcia-lung-ct-slice15")) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := dicom.ParseBytes(b, dicom.ParseOptions{StopAtPixelData: true})
		if err != nil {
			t.Fatal(err)
		}
		ts := f.TransferSyntax.UID
		// Each file is the same slice (same SOP Instance UID) in another
		// syntax, so each goes to a fresh archive.
		if opt, ok := storescuOption[ts]; ok {
			ar := newArchive(t)
			_, p := startServer(t, Config{}, ar)
			storeSeries(t, p, []string{file}, opt, "-R")
			checkStored(t, ar, file, ts, false)
		} else {
			t.Logf("%s: storescu cannot propose %s; sent by radmark's SCU only", filepath.Base(file), ts)
		}
		// radmark's own SCU sends the file's bytes unchanged, so the
		// archive must hold exactly them.
		ar := newArchive(t)
		_, p := startServer(t, Config{}, ar)
		sendOwn(t, p, file)
		checkStored(t, ar, file, ts, true)
	}
}

// TestStoreFailures sends what must be refused: a data set that does not
// parse, one without SOP Instance UID, one whose UID differs from the
// command's. Nothing may be stored.
func TestStoreFailures(t *testing.T) {
	ar := newArchive(t)
	_, p := startServer(t, Config{}, ar)
	const ct = "1.2.840.10008.5.1.4.1.1.2"
	c, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: ct, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	good := &dicom.Dataset{}
	good.SetString(dicom.TagSOPClassUID, ct)
	good.SetString(dicom.TagSOPInstanceUID, "1.2.3.4.5")
	good.SetString(dicom.TagStudyInstanceUID, "1.2.3")
	good.SetString(dicom.TagSeriesInstanceUID, "1.2.3.4")
	var goodBytes bytes.Buffer
	dicom.WriteDatasetSyntax(&goodBytes, good, dicom.ExplicitVRLittleEndian)
	noUID := &dicom.Dataset{}
	noUID.SetString(dicom.TagSOPClassUID, ct)
	var noUIDBytes bytes.Buffer
	dicom.WriteDatasetSyntax(&noUIDBytes, noUID, dicom.ExplicitVRLittleEndian)
	for _, tc := range []struct {
		name, sop string
		data      []byte
		status    uint16
	}{
		{"garbage", "1.2.3.4.5", []byte{0x08, 0x00, 0x18, 0x00, 'U', 'I', 0xFF, 0x7F, '1'}, StatusCannotUnderstand},
		{"no SOP instance UID", "1.2.3.4.5", noUIDBytes.Bytes(), StatusCannotUnderstand},
		{"UID differs from the command", "1.2.3.4.6", goodBytes.Bytes(), StatusDatasetMismatch},
	} {
		st, err := c.Store(ct, tc.sop, dicom.ExplicitVRLittleEndian, bytes.NewReader(tc.data))
		var se *StatusError
		if !errorsAs(err, &se) || st != tc.status || se.Comment == "" {
			t.Errorf("%s: status 0x%04X, err %v; want 0x%04X with a comment", tc.name, st, err, tc.status)
		}
	}
	if _, _, n, _ := ar.Store.Counts(context.Background()); n != 0 {
		t.Errorf("%d instances stored from refused data sets", n)
	}
	if st, err := c.Store(ct, "1.2.3.4.5", dicom.ExplicitVRLittleEndian, bytes.NewReader(goodBytes.Bytes())); err != nil || st != StatusSuccess {
		t.Fatalf("valid data set: status 0x%04X, %v", st, err)
	}
	// The same bytes again: success, nothing changes.
	if st, err := c.Store(ct, "1.2.3.4.5", dicom.ExplicitVRLittleEndian, bytes.NewReader(goodBytes.Bytes())); err != nil || st != StatusSuccess {
		t.Fatalf("duplicate: status 0x%04X, %v", st, err)
	}
	// Other bytes under the same UID: refused, the first stays.
	good.SetString(dicom.TagPatientID, "OTHER")
	var other bytes.Buffer
	dicom.WriteDatasetSyntax(&other, good, dicom.ExplicitVRLittleEndian)
	if st, _ := c.Store(ct, "1.2.3.4.5", dicom.ExplicitVRLittleEndian, bytes.NewReader(other.Bytes())); st != StatusDatasetMismatch {
		t.Errorf("conflicting re-send: status 0x%04X", st)
	}
}

func errorsAs(err error, target **StatusError) bool {
	se, ok := err.(*StatusError)
	if ok {
		*target = se
	}
	return ok
}

// findscu runs a C-FIND and returns the responses' data sets.
func findscu(t *testing.T, p int, model string, keys ...string) []*dicom.Dataset {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-aet", "FINDSCU", "-aec", "RADMARK", model, "-X", "-od", dir}
	for _, k := range keys {
		args = append(args, "-k", k)
	}
	args = append(args, "127.0.0.1", port(p))
	if out, err := dcmtk(t, "findscu", args...); err != nil {
		t.Fatalf("findscu %v: %v\n%s", keys, err, out)
	}
	var out []*dicom.Dataset
	for _, f := range dicomFiles(t, dir) {
		pf, err := dicom.ParseFile(f, dicom.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pf.Dataset)
	}
	return out
}

func TestFindSCU(t *testing.T) {
	data := testenv.SharedData(t)
	ar := newArchive(t)
	_, p := startServer(t, Config{}, ar)
	var all []string
	for _, d := range []string{"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm", "ct/dcm_qa_ct_ge-head_gantry-tilt_variable-spacing", "mr"} {
		matches, _ := filepath.Glob(filepath.Join(data, d, "*.dcm"))
		if len(matches) == 0 {
			matches, _ = filepath.Glob(filepath.Join(data, d, "*", "*.dcm"))
		}
		all = append(all, matches...)
	}
	storeSeries(t, p, all, "+sd")
	st, se, in, _ := ar.Store.Counts(context.Background())
	if st < 2 {
		t.Fatalf("only %d studies stored", st)
	}
	t.Logf("archive: %d studies, %d series, %d instances", st, se, in)

	qido := func(level radmark.Level, tag dicom.Tag, params url.Values) []string {
		params.Set("limit", "100000")
		q, err := archive.ParseSearch(level, "", "", params)
		if err != nil {
			t.Fatal(err)
		}
		var res []archive.SearchResult
		switch level {
		case radmark.StudyLevel:
			res, err = ar.SearchStudies(context.Background(), q, archive.URLs{})
		case radmark.SeriesLevel:
			res, err = ar.SearchSeries(context.Background(), q, archive.URLs{})
		default:
			res, err = ar.SearchInstances(context.Background(), q, archive.URLs{})
		}
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, r := range res {
			s := string(r)
			i := strings.Index(s, `"`+tag.Hex()+`"`)
			if i < 0 {
				t.Fatalf("QIDO result lacks %s", tag)
			}
			rest := s[i:]
			j := strings.Index(rest, `"Value":["`)
			rest = rest[j+10:]
			uids = append(uids, rest[:strings.Index(rest, `"`)])
		}
		sort.Strings(uids)
		return uids
	}
	values := func(dss []*dicom.Dataset, tag dicom.Tag) []string {
		var out []string
		for _, ds := range dss {
			out = append(out, ds.String(tag))
		}
		sort.Strings(out)
		return out
	}
	// Pick real values to match on.
	studies := qido(radmark.StudyLevel, dicom.TagStudyInstanceUID, url.Values{})
	if len(studies) < 2 {
		t.Fatal("QIDO sees fewer than 2 studies")
	}
	var first []*dicom.Dataset
	for _, st := range studies {
		first = findscu(t, p, "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID="+st, "PatientName", "PatientID", "StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedInstances")
		if len(first) != 1 {
			t.Fatalf("C-FIND by StudyInstanceUID: %d results", len(first))
		}
		if first[0].String(dicom.TagStudyDate) != "" {
			studies[0] = st
			break
		}
	}
	pid, date, name := first[0].String(dicom.TagPatientID), first[0].String(dicom.TagStudyDate), first[0].String(dicom.TagPatientName)
	if pid == "" || date == "" || first[0].Get(dicom.TagNumberOfStudyRelatedInstances) == nil {
		t.Fatalf("return keys missing: PatientID %q StudyDate %q", pid, date)
	}
	seriesUIDs := qido(radmark.SeriesLevel, dicom.TagSeriesInstanceUID, url.Values{"StudyInstanceUID": {studies[0]}})
	year := date[:4]
	cases := []struct {
		name   string
		model  string
		level  radmark.Level
		tag    dicom.Tag
		keys   []string
		params url.Values
	}{
		{"all studies", "-S", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID"}, url.Values{}},
		{"patient ID wildcard", "-S", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientID=" + pid[:1] + "*"}, url.Values{"PatientID": {pid[:1] + "*"}}},
		{"patient name wildcard", "-S", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName=" + strings.ToLower(name[:1]) + "*"}, url.Values{"PatientName": {strings.ToLower(name[:1]) + "*"}}},
		{"date range", "-S", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "StudyDate=" + year + "0101-" + year + "1231"}, url.Values{"StudyDate": {year + "0101-" + year + "1231"}}},
		{"open date range", "-S", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "StudyDate=-" + date}, url.Values{"StudyDate": {"-" + date}}},
		{"empty date range", "-S", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "StudyDate=19000101-19000102"}, url.Values{"StudyDate": {"19000101-19000102"}}},
		{"series of a study", "-S", radmark.SeriesLevel, dicom.TagSeriesInstanceUID, []string{"QueryRetrieveLevel=SERIES", "StudyInstanceUID=" + studies[0], "SeriesInstanceUID", "Modality"}, url.Values{"StudyInstanceUID": {studies[0]}}},
		{"series by modality", "-S", radmark.SeriesLevel, dicom.TagSeriesInstanceUID, []string{"QueryRetrieveLevel=SERIES", "SeriesInstanceUID", "Modality=CT"}, url.Values{"Modality": {"CT"}}},
		{"series UID list", "-S", radmark.SeriesLevel, dicom.TagSeriesInstanceUID, []string{"QueryRetrieveLevel=SERIES", "SeriesInstanceUID=" + strings.Join(seriesUIDs, `\`)}, url.Values{"SeriesInstanceUID": {strings.Join(seriesUIDs, ",")}}},
		{"images of a series", "-S", radmark.InstanceLevel, dicom.TagSOPInstanceUID, []string{"QueryRetrieveLevel=IMAGE", "SeriesInstanceUID=" + seriesUIDs[0], "SOPInstanceUID", "InstanceNumber"}, url.Values{"SeriesInstanceUID": {seriesUIDs[0]}}},
		{"images by number range", "-S", radmark.InstanceLevel, dicom.TagSOPInstanceUID, []string{"QueryRetrieveLevel=IMAGE", "SeriesInstanceUID=" + seriesUIDs[0], "SOPInstanceUID", "InstanceNumber=1-5"}, url.Values{"SeriesInstanceUID": {seriesUIDs[0]}, "InstanceNumber": {"1-5"}}},
		{"patient root study", "-P", radmark.StudyLevel, dicom.TagStudyInstanceUID, []string{"QueryRetrieveLevel=STUDY", "PatientID=" + pid, "StudyInstanceUID"}, url.Values{"PatientID": {pid}}},
	}
	for _, tc := range cases {
		got := values(findscu(t, p, tc.model, tc.keys...), tc.tag)
		want := qido(tc.level, tc.tag, tc.params)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: C-FIND found %d %v, QIDO-RS %d %v", tc.name, len(got), got, len(want), want)
		} else if tc.name != "empty date range" && len(got) == 0 {
			t.Errorf("%s: no matches, the test proves nothing", tc.name)
		}
	}
	// Patient level: one result per patient, with its counts.
	pats := findscu(t, p, "-P", "QueryRetrieveLevel=PATIENT", "PatientID", "PatientName", "NumberOfPatientRelatedStudies")
	wantPatients := map[string]bool{}
	for _, ds := range findscu(t, p, "-S", "QueryRetrieveLevel=STUDY", "PatientID") {
		wantPatients[ds.String(dicom.TagPatientID)] = true
	}
	if len(pats) != len(wantPatients) {
		t.Errorf("PATIENT level: %d results for %d patients", len(pats), len(wantPatients))
	}
	for _, ds := range pats {
		if n, _ := ds.Int(tagNumberOfPatientRelatedStudies); n < 1 || !wantPatients[ds.String(dicom.TagPatientID)] {
			t.Errorf("patient %q: %d related studies", ds.String(dicom.TagPatientID), n)
		}
	}
	// PATIENT level is refused in the Study Root model.
	out, _ := dcmtk(t, "findscu", "-v", "-aec", "RADMARK", "-S", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", "127.0.0.1", port(p))
	if !strings.Contains(out, "DataSetDoesNotMatchSOPClass") {
		t.Errorf("PATIENT level in Study Root: %s", out)
	}
}

// storescp starts dcmtk's storescp as a move destination / SCU peer.
func storescp(t *testing.T, ae string) (dir string, p int) {
	t.Helper()
	path := testenv.LookPath(t, "storescp")
	dir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(path, "-aet", ae, "+xa", "-od", dir, port(p))
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("storescp log:\n%s", log.String())
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port(p)); err == nil {
			c.Close()
			return dir, p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("storescp did not start")
	return
}

// sameDataSets checks that dir holds exactly the files' data sets.
func sameDataSets(t *testing.T, dir string, files []string) {
	t.Helper()
	want := map[string]string{}
	for _, f := range files {
		want[dump(t, f)] = f
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(files) {
		t.Fatalf("%s holds %d files, want %d", dir, len(entries), len(files))
	}
	for _, e := range entries {
		if _, ok := want[dump(t, filepath.Join(dir, e.Name()))]; !ok {
			t.Errorf("%s does not match any sent file", e.Name())
		}
	}
}

func TestMoveAndGet(t *testing.T) {
	data := testenv.SharedData(t)
	ar := newArchive(t)
	destDir, destPort := storescp(t, "DEST")
	_, p := startServer(t, Config{Peers: []Peer{{AETitle: "DEST", Host: "127.0.0.1", Port: destPort}}}, ar)
	files := dicomFiles(t, filepath.Join(data, "ct", "dcm_qa_ct_ge-head_gantry-tilt_variable-spacing"))
	storeSeries(t, p, files)
	f, _ := dicom.ParseFile(files[0], dicom.ParseOptions{StopAtPixelData: true})
	study, series := f.Dataset.String(dicom.TagStudyInstanceUID), f.Dataset.String(dicom.TagSeriesInstanceUID)

	out, err := dcmtk(t, "movescu", "-aet", "MOVESCU", "-aec", "RADMARK", "-aem", "DEST", "-S",
		"-k", "QueryRetrieveLevel=SERIES", "-k", "StudyInstanceUID="+study, "-k", "SeriesInstanceUID="+series, "127.0.0.1", port(p))
	if err != nil {
		t.Fatalf("movescu: %v\n%s", err, out)
	}
	sameDataSets(t, destDir, files)

	out, _ = dcmtk(t, "movescu", "-aec", "RADMARK", "-aem", "NOWHERE", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+study, "127.0.0.1", port(p))
	if !strings.Contains(out, "MoveDestinationUnknown") {
		t.Errorf("move to an unknown AE: %s", out)
	}

	getDir := t.TempDir()
	out, err = dcmtk(t, "getscu", "-aet", "GETSCU", "-aec", "RADMARK", "-S", "-od", getDir,
		"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+study, "127.0.0.1", port(p))
	if err != nil {
		t.Fatalf("getscu: %v\n%s", err, out)
	}
	sameDataSets(t, getDir, files)

	// Patient Root, IMAGE level, one instance.
	getDir2 := t.TempDir()
	sop := f.Dataset.String(dicom.TagSOPInstanceUID)
	out, err = dcmtk(t, "getscu", "-aec", "RADMARK", "-P", "-od", getDir2, "-k", "QueryRetrieveLevel=IMAGE",
		"-k", "PatientID="+f.Dataset.String(dicom.TagPatientID), "-k", "StudyInstanceUID="+study, "-k", "SeriesInstanceUID="+series, "-k", "SOPInstanceUID="+sop, "127.0.0.1", port(p))
	if err != nil {
		t.Fatalf("getscu IMAGE: %v\n%s", err, out)
	}
	sameDataSets(t, getDir2, files[:1])

	// A compressed instance to a peer that accepts only uncompressed
	// syntaxes (getscu's default): radmark decompresses it.
	rle := filepath.Join(data, "syntaxes", "generated_from_tcia-lung-ct-slice15", "04_rle-lossless_1.2.840.10008.1.2.5.dcm")
	storeSeries(t, p, []string{rle}, "-xr", "-R")
	rf, _ := dicom.ParseFile(rle, dicom.ParseOptions{StopAtPixelData: true})
	getDir3 := t.TempDir()
	out, err = dcmtk(t, "getscu", "-aec", "RADMARK", "-S", "-od", getDir3, "-k", "QueryRetrieveLevel=IMAGE",
		"-k", "StudyInstanceUID="+rf.Dataset.String(dicom.TagStudyInstanceUID), "-k", "SeriesInstanceUID="+rf.Dataset.String(dicom.TagSeriesInstanceUID),
		"-k", "SOPInstanceUID="+rf.Dataset.String(dicom.TagSOPInstanceUID), "127.0.0.1", port(p))
	if err != nil {
		t.Fatalf("getscu of an RLE instance: %v\n%s", err, out)
	}
	decompressed := filepath.Join(t.TempDir(), "rle-decompressed.dcm")
	if out, err := dcmtk(t, "dcmdrle", rle, decompressed); err != nil {
		t.Fatalf("dcmdrle: %v\n%s", err, out)
	}
	sameDataSets(t, getDir3, []string{decompressed})
}

func TestStoreSCUToStorescp(t *testing.T) {
	data := testenv.SharedData(t)
	ar := newArchive(t)
	_, p := startServer(t, Config{}, ar)
	files := dicomFiles(t, filepath.Join(data, "syntaxes", "generated_from_tcia-lung-ct-slice15"))[4:6] // RLE, JPEG baseline
	files = append(files, dicomFiles(t, filepath.Join(data, "ct", "dcm_qa_ct_ge-head_gantry-tilt_variable-spacing"))[:3]...)
	storeSeries(t, p, files[:1], "-xr")
	storeSeries(t, p, files[1:2], "-xy")
	storeSeries(t, p, files[2:])
	var instances []*radmark.Instance
	for _, f := range files {
		pf, _ := dicom.ParseFile(f, dicom.ParseOptions{StopAtPixelData: true})
		ins, err := ar.Select(context.Background(), "", "", radmark.UID(pf.Dataset.String(dicom.TagSOPInstanceUID)))
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, ins...)
	}
	dir, dp := storescp(t, "PACS")
	results, err := Send(context.Background(), ar, Peer{AETitle: "PACS", Host: "127.0.0.1", Port: dp}, "RADMARK", instances)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil || r.Status != StatusSuccess {
			t.Errorf("%s: status 0x%04X, %v", r.SOPInstanceUID, r.Status, r.Err)
		}
	}
	sameDataSets(t, dir, files)
}

func selfSigned(t *testing.T) (certFile, keyFile string, cfg *tls.Config, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "radmark test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	return certFile, keyFile, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, pool
}

func TestTLSEcho(t *testing.T) {
	certFile, keyFile, _, pool := selfSigned(t)
	// Client certificates required (PS3.15 B.1 authenticated peers).
	cfg, err := TLSConfig(certFile, keyFile, certFile)
	if err != nil {
		t.Fatal(err)
	}
	_, p := startServer(t, Config{TLS: cfg}, newArchive(t))
	out, err := dcmtk(t, "echoscu", "-aec", "RADMARK", "+tls", keyFile, certFile, "+cf", certFile, "127.0.0.1", port(p))
	if err != nil {
		t.Fatalf("echoscu +tls: %v\n%s", err, out)
	}
	if out, err := dcmtk(t, "echoscu", "-aec", "RADMARK", "127.0.0.1", port(p)); err == nil {
		t.Fatalf("plain echoscu accepted by a TLS server\n%s", out)
	}
	if out, err := dcmtk(t, "echoscu", "-aec", "RADMARK", "+tla", "+cf", certFile, "127.0.0.1", port(p)); err == nil {
		t.Fatalf("echoscu without a client certificate accepted\n%s", out)
	}
	// radmark's own SCU over TLS.
	pair := cfg.Certificates
	c, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p, TLS: &tls.Config{RootCAs: pool, Certificates: pair, ServerName: "127.0.0.1"}},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Echo(); err != nil {
		t.Fatal(err)
	}
	c.Release()
}

var _ = fmt.Sprintf
