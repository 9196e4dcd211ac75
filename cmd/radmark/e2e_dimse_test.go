package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// TestDIMSEThroughTheBinary enables DICOM networking on `radmark serve`
// and talks to it with dcmtk: echo, store a CT series, then find it over
// DICOMweb.
func TestDIMSEThroughTheBinary(t *testing.T) {
	data := testenv.SharedData(t)
	echoscu := testenv.LookPath(t, "echoscu")
	storescu := testenv.LookPath(t, "storescu")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	srv := startServer(t, "--dicom-port", port, "--dicom-bind", "127.0.0.1", "--dicom-ae", "RADMARK")
	if out, err := exec.Command(echoscu, "-aet", "TESTSCU", "-aec", "RADMARK", "127.0.0.1", port).CombinedOutput(); err != nil {
		t.Fatalf("echoscu: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(data, lungCT, "*.dcm"))
	cmd := exec.Command(storescu, append([]string{"-aet", "TESTSCU", "-aec", "RADMARK", "127.0.0.1", port}, files...)...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v %s", err, out)
	}
	resp, body := get(t, srv.DICOMweb()+"/studies/"+studyUIDOf(t, files[0])+"/instances", "")
	var instances []json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal(body, &instances) != nil || len(instances) != len(files) {
		t.Fatalf("QIDO after C-STORE: %d, %d instances, want %d", resp.StatusCode, len(instances), len(files))
	}
}
