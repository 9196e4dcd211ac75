package dimse

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

// TestStoreEveryFile sends every parseable file of ../shared/data with
// storescu, without TCP_NODELAY (Nagle on, as Debian's dcmtk runs), and
// checks that the archive ends up holding what STOW-style ingest of the
// same files in the same order holds: the same instances, each with the
// same content.
func TestStoreEveryFile(t *testing.T) {
	testenv.Long(t, "sends the whole shared corpus")
	data := testenv.SharedData(t)
	storescu := testenv.LookPath(t, "storescu")
	var files []string
	filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".dcm") {
			if f, err := dicom.ParseFile(path, dicom.ParseOptions{StopAtPixelData: true}); err == nil && f.Meta != nil &&
				f.Dataset.String(dicom.TagSOPInstanceUID) != "" && IsStorageSOPClass(f.Dataset.String(dicom.TagSOPClassUID)) {
				files = append(files, path)
			}
		}
		return nil
	})
	if len(files) < 100 {
		t.Fatalf("only %d parseable files found in %s", len(files), data)
	}
	// storescu proposes one compressed syntax per run (its -x option), so
	// files go in groups by transfer syntax; the syntaxes it cannot propose
	// go through radmark's own SCU.
	groups := map[string][]string{}
	var order []string
	for _, f := range files {
		pf, _ := dicom.ParseFile(f, dicom.ParseOptions{StopAtPixelData: true})
		ts := pf.TransferSyntax.UID
		if _, ok := groups[ts]; !ok {
			order = append(order, ts)
		}
		groups[ts] = append(groups[ts], f)
	}
	files = files[:0]
	for _, ts := range order {
		files = append(files, groups[ts]...)
	}
	// The oracle: ingest of the original bytes, in the same order.
	oracle := newArchive(t)
	want := map[radmark.UID]bool{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		res, err := oracle.Ingest(context.Background(), []archive.Source{{Name: f, Data: bytes.NewReader(b), Size: int64(len(b))}}, archive.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err == nil {
			want[res[0].SOPInstanceUID] = true
		}
	}
	ar := newArchive(t)
	_, p := startServer(t, Config{}, ar)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "TCP_NODELAY=") {
			env = append(env, e)
		}
	}
	var out []byte
	var own int
	for _, ts := range order {
		opt, ok := storescuOption[ts]
		if !ok {
			for _, f := range groups[ts] {
				sendOwn(t, p, f)
				own++
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, storescu, append([]string{"-nh", "-R", opt, "-aet", "CORPUS", "-aec", "RADMARK", "127.0.0.1", port(p)}, groups[ts]...)...)
		cmd.Env = env
		o, _ := cmd.CombinedOutput() // -nh: failures are checked below, file by file
		out = append(out, o...)
		cancel()
	}
	for _, f := range files {
		pf, _ := dicom.ParseFile(f, dicom.ParseOptions{StopAtPixelData: true})
		uid := radmark.UID(pf.Dataset.String(dicom.TagSOPInstanceUID))
		if !want[uid] {
			continue
		}
		got, err := ar.Select(context.Background(), "", "", uid)
		if err != nil {
			if bytes.Contains(out, []byte("missing SOP class (or instance) in file: "+f)) {
				// dcmtk does not resolve UN-encoded SOP UIDs (radmark
				// does, CP-246), so storescu could not send this file.
				t.Logf("%s: storescu cannot read its SOP UIDs; sent by radmark's SCU", strings.TrimPrefix(f, data))
				sendOwn(t, p, f)
				own++
				got, err = ar.Select(context.Background(), "", "", uid)
			}
		}
		if err != nil {
			t.Errorf("%s: ingested by STOW, not stored over DIMSE: %v", strings.TrimPrefix(f, data), err)
			continue
		}
		delete(want, uid)
		orc, _ := oracle.Select(context.Background(), "", "", uid)
		if a, b := storedDump(t, ar, got[0]), storedDump(t, oracle, orc[0]); a != b {
			t.Errorf("%s: stored content differs from the file's", strings.TrimPrefix(f, data))
		}
	}
	_, _, gotN, _ := ar.Store.Counts(context.Background())
	_, _, wantN, _ := oracle.Store.Counts(context.Background())
	if gotN != wantN {
		t.Errorf("DIMSE stored %d instances, STOW-style ingest %d", gotN, wantN)
	}
	if t.Failed() {
		t.Logf("storescu output:\n%s", out)
	}
	t.Logf("%d parseable files sent, %d by radmark's SCU (syntaxes storescu cannot propose)", len(files), own)
}

func storedDump(t *testing.T, ar *archive.Service, in *radmark.Instance) string {
	t.Helper()
	rc, err := ar.Open(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	tmp := filepath.Join(t.TempDir(), "x.dcm")
	os.WriteFile(tmp, b, 0o600)
	return dump(t, tmp)
}

// storescuOption is the storescu option that proposes a transfer syntax.
var storescuOption = map[string]string{
	dicom.ImplicitVRLittleEndian: "-xi", dicom.ExplicitVRLittleEndian: "-xe", dicom.ExplicitVRBigEndian: "-xb",
	dicom.DeflatedExplicitVRLittleEndian: "-xd", dicom.RLELossless: "-xr", dicom.JPEGBaseline8Bit: "-xy",
	dicom.JPEGExtended12Bit: "-xx", dicom.JPEGLosslessSV1: "-xs", dicom.JPEGLSLossless: "-xt",
	dicom.JPEGLSNearLossless: "-xu", dicom.JPEG2000Lossless: "-xv", dicom.JPEG2000: "-xw",
}

// sendOwn sends a file's data set unchanged with radmark's C-STORE SCU.
func sendOwn(t *testing.T, p int, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	ts, cls := f.TransferSyntax.UID, f.Dataset.String(dicom.TagSOPClassUID)
	c, err := Dial(context.Background(), Peer{AETitle: "RADMARK", Host: "127.0.0.1", Port: p},
		DialOptions{CallingAE: "SELF", Contexts: []ProposedContext{{AbstractSyntax: cls, TransferSyntaxes: []string{ts}}}})
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(file), err)
	}
	defer c.Release()
	if _, err := c.Store(cls, f.Dataset.String(dicom.TagSOPInstanceUID), ts, bytes.NewReader(b[f.DatasetOffset:])); err != nil {
		t.Logf("%s: %v", filepath.Base(file), err)
	}
}
