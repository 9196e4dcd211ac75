package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dimse"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/workflow"
)

// intakeFlags configure de-identification on the way into projects.
type intakeFlags struct {
	keyFile, secretFile *string
	keepOriginals       *bool
}

// deidKeyEnv holds the linkage key itself when no key file is given.
const deidKeyEnv = "RADMARK_DEID_KEY"

func (f *intakeFlags) register(fs *flag.FlagSet) {
	f.keyFile = fs.String("deid-key-file", envDefault("deid-key-file", ""),
		"file holding the 32-byte linkage key (64 hex digits or base64) that seals original→pseudonym records; default: $"+deidKeyEnv+"; with neither, no linkage is kept")
	f.secretFile = fs.String("deid-secret-file", envDefault("deid-secret-file", ""),
		"file holding the site secret that keys pseudonyms and UIDs (default DATA/deid-secret, made once; several replicas must share one)")
	f.keepOriginals = fs.Bool("keep-originals", envDefault("keep-originals", "") == "true",
		"keep an identifiable archive: store each original beside the de-identified copy a project receives (default: originals are discarded)")
}

// build makes the intake service. The linkage key never reaches the
// database; the site secret lives in a file, made on first start.
func (f *intakeFlags) build(data string, db deid.Store, arch *archive.Service, blobs radmark.BlobStore, cases *workflow.Service, log *slog.Logger) (*intake.Service, error) {
	secretPath := *f.secretFile
	if secretPath == "" {
		secretPath = filepath.Join(data, "deid-secret")
	}
	secret, err := siteSecret(secretPath)
	if err != nil {
		return nil, err
	}
	svc := &deid.Service{Profiles: db, SiteSecret: secret}
	_, keySet := os.LookupEnv(deidKeyEnv)
	if *f.keyFile != "" || keySet {
		key, err := deid.LoadLinkageKey(*f.keyFile, deidKeyEnv)
		if err != nil {
			return nil, err
		}
		if svc.Sealer, err = deid.NewSealer(key); err != nil {
			return nil, err
		}
	} else {
		log.Warn("no linkage key (--deid-key-file or " + deidKeyEnv + "): de-identified instances cannot be linked back to their originals")
	}
	return &intake.Service{Archive: arch, Deid: svc, Store: db, Blobs: blobs, Cases: cases, KeepOriginals: *f.keepOriginals, Logger: log}, nil
}

// siteSecret reads the secret at path, making it (32 random bytes, mode
// 0600) if there is none.
func siteSecret(path string) ([]byte, error) {
	if err := makeSiteSecret(path); err != nil {
		return nil, fmt.Errorf("site secret: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("site secret: %w", err)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("site secret %s holds %d bytes; it needs 32 or more", path, len(b))
	}
	return b, nil
}

// makeSiteSecret writes a new secret aside and links it into place, so a
// concurrent start never sees half a secret and two starts agree on one.
func makeSiteSecret(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".deid-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	_, err = tmp.Write(secret)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// parseProjectAEs reads --dicom-projects: entries separated by ";" or
// newlines, each "AE project=ID [callers=A,B] [hosts=IP,CIDR]".
func parseProjectAEs(s string) ([]dimse.ProjectAE, error) {
	var out []dimse.ProjectAE
	for _, entry := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		fields := strings.Fields(entry)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		p := dimse.ProjectAE{AETitle: fields[0]}
		for _, kv := range fields[1:] {
			k, v, ok := strings.Cut(kv, "=")
			switch {
			case !ok:
				return nil, fmt.Errorf("project AE %s: %q is not key=value", p.AETitle, kv)
			case k == "project":
				p.Project = v
			case k == "callers":
				p.AllowedCallers = commaList(v)
			case k == "hosts":
				p.AllowedHosts = commaList(v)
			default:
				return nil, fmt.Errorf("project AE %s: unknown key %q (want project, callers, hosts)", p.AETitle, k)
			}
		}
		if p.Project == "" {
			return nil, fmt.Errorf("project AE %s: no project=ID", p.AETitle)
		}
		out = append(out, p)
	}
	return out, nil
}
