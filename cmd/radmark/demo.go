package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
)

// demoStudies generates the demo's phantom instances as Part 10 files in
// memory: a 512x512x300 CT, a small MR and a chest radiograph, with known
// geometry (see package phantom). The UIDs depend only on the specs, so
// running the demo twice stores nothing new.
func demoStudies(small bool) (map[string][]byte, error) {
	ct := phantom.CT512()
	if small {
		ct = phantom.CTSmall()
	}
	files := map[string][]byte{}
	for _, spec := range []phantom.Spec{ct, phantom.MRSmall()} {
		s, err := phantom.Generate(spec)
		if err != nil {
			return nil, err
		}
		for k := range s.Instances {
			var buf bytes.Buffer
			if err := s.Write(k, &buf); err != nil {
				return nil, err
			}
			files[filepath.Join(string(spec.Modality), s.FileName(k))] = buf.Bytes()
		}
	}
	xspec := phantom.XRayChest()
	if small {
		xspec = phantom.XRaySmall()
	}
	x, err := phantom.GenerateXRay(xspec)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, x.Dataset, dicom.WriteOptions{}); err != nil {
		return nil, err
	}
	files[filepath.Join("DX", "DX0001.dcm")] = buf.Bytes()
	return files, nil
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	var st storageFlags
	st.register(fs)
	out := fs.String("out", "", "write the phantom files into this folder instead of storing them")
	small := fs.Bool("small", false, "smaller phantoms (128x128x64 CT), for quick trials")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := demoStudies(*small)
	if err != nil {
		return fmt.Errorf("generate phantoms: %w", err)
	}
	names := sortedKeys(files)
	if *out != "" {
		for _, name := range names {
			path := filepath.Join(*out, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, files[name], 0o644); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "wrote %d phantom files to %s\n", len(names), *out)
		return nil
	}
	db, blobs, err := openStorage(ctx, &st)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newArchive(db, blobs, newDiscardLogger())
	var tally ingestTally
	// The demo studies in file order (CT first), for the workflow project's cases.
	var studies []radmark.UID
	for start := 0; start < len(names); start += ingestBatch {
		batch := names[start:min(start+ingestBatch, len(names))]
		sources := make([]archive.Source, len(batch))
		for i, name := range batch {
			sources[i] = archive.Source{Name: name, Data: bytes.NewReader(files[name]), Size: int64(len(files[name]))}
		}
		results, err := svc.Ingest(ctx, sources, archive.IngestOptions{})
		if err != nil {
			return err
		}
		for i, r := range results {
			tally.add(batch[i], r.Status, r.Err)
			if r.Err == nil && !slices.Contains(studies, r.StudyUID) {
				studies = append(studies, r.StudyUID)
			}
		}
	}
	fmt.Fprintf(stdout, "demo studies: stored %d, already present %d, rejected %d\n", tally.stored, tally.duplicate, len(tally.rejected))
	for _, r := range tally.rejected {
		fmt.Fprintf(stdout, "  rejected %s\n", r)
	}
	if len(tally.rejected) > 0 {
		return exitError(1)
	}
	if err := createDemoProject(ctx, db, stdout); err != nil {
		return err
	}
	if err := setUpDemoAccounts(ctx, db, stdout); err != nil {
		return err
	}
	return createDemoWorkflow(ctx, db, studies, stdout)
}
