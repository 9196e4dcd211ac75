// Command radmark is the one binary: `radmark serve` runs the archive,
// DICOMweb and the UI; `radmark ingest` loads files; `radmark demo` makes
// phantom studies; `radmark version` says what it is. This package only
// wires implementations together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += "+" + s.Value[:12]
				}
			}
		}
	}
	return v
}

const usage = `radmark — DICOM-native annotation platform for radiology

Usage:
  radmark serve   [flags]            run the server (archive, DICOMweb, UI)
  radmark ingest  [flags] PATH...    store DICOM files, folders and .zip archives
  radmark demo    [flags]            generate phantom studies and store them
  radmark audit verify [flags]       check the audit hash chain, report the first broken link
  radmark user add|role|passwd|list  accounts and project roles (offline, against --data/--db)
  radmark token create NAME          a personal API token (offline), shown once
  radmark export|import FORMAT ...   DICOM SEG, NIfTI, nnU-Net/MONAI datasets (offline)
  radmark deid check FILE...         the PHI scanner on de-identified files
  radmark release create|verify      immutable dataset releases (offline or --server)
  radmark version                    print the version

Run "radmark COMMAND -h" for a command's flags. Every flag can also be set
with an environment variable RADMARK_<FLAG> (for example RADMARK_DATA).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes a command and returns the process exit code: 0 success,
// 1 failure (or some input refused), 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stdout, stderr)
	case "ingest":
		err = ingestCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		err = runAudit(ctx, args[1:], stdout, stderr)
	case "user":
		err = runUser(ctx, args[1:], os.Stdin, stdout, stderr)
	case "token":
		err = runToken(ctx, args[1:], stdout, stderr)
	case "export":
		err = runExport(ctx, args[1:], stdout, stderr)
	case "import":
		err = runImport(ctx, args[1:], stdout, stderr)
	case "deid":
		err = runDeid(ctx, args[1:], stdout, stderr)
	case "release":
		err = runRelease(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "radmark %s\n", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "radmark: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return int(exit)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "radmark %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "radmark %s: %v\n", args[0], err)
	return 1
}

// exitError ends a command with a code after it has reported on its own.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
