package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
)

const deidUsage = `Usage: radmark deid check [--profile FILE] [--original FILE] FILE...

check runs the PHI scanner on de-identified DICOM files: de-identification
recorded, no Table E.1-1 attribute the profile removes or empties still
holding a value, no unreplaced UID, no private element off the safe list,
no overlay or curve data. With --original (one FILE), it also looks for
every original name, ID and date anywhere in FILE, private elements and
sequences included. It prints one line per finding and exits 1 if any.
--profile is the JSON of a deid.Profile (default: the basic profile).
`

func runDeid(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, deidUsage)
			return nil
		}
		fmt.Fprint(stderr, deidUsage)
		return usageError{"want: radmark deid check FILE..."}
	}
	fs := newFlagSet("deid check", stderr)
	profilePath := fs.String("profile", "", "profile JSON (default: the basic profile)")
	originalPath := fs.String("original", "", "the original of FILE, to search for its identifying strings")
	fs.Usage = func() {
		fmt.Fprint(stderr, deidUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"no FILE given"}
	}
	if *originalPath != "" && fs.NArg() != 1 {
		return usageError{"--original goes with exactly one FILE"}
	}
	p := deid.Profile{Version: 1, Name: "basic"}
	if *profilePath != "" {
		b, err := os.ReadFile(*profilePath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("profile %s: %w", *profilePath, err)
		}
	}
	// The key only names pseudonyms; checking needs none of them.
	d, err := deid.New(p, deid.ProjectKey([]byte("radmark deid check"), "check"))
	if err != nil {
		return err
	}
	var original *dicom.Dataset
	if *originalPath != "" {
		f, err := dicom.ParseFile(*originalPath, dicom.ParseOptions{})
		if err != nil {
			return fmt.Errorf("original: %w", err)
		}
		original = f.Dataset
	}
	found := 0
	for _, path := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := dicom.ParseFile(path, dicom.ParseOptions{})
		if err != nil {
			fmt.Fprintf(stdout, "%s: cannot be checked: %v\n", path, err)
			found++
			continue
		}
		findings := d.Check(f.Dataset)
		if original != nil {
			findings = append(findings, d.Scan(original, f.Dataset)...)
		}
		for _, x := range findings {
			fmt.Fprintf(stdout, "%s: %s\n", path, x)
		}
		if len(findings) == 0 {
			fmt.Fprintf(stdout, "%s: no PHI found\n", path)
		}
		found += len(findings)
	}
	if found > 0 {
		return exitError(1)
	}
	return nil
}
