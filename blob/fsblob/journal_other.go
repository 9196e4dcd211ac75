//go:build !linux

package fsblob

import (
	"errors"
	"os"
)

// journalSupported: elsewhere OpenWith ignores Options.Journal and writes
// every object the plain way.
const journalSupported = false

var errNoJournal = errors.New("fsblob: the journal is not supported on this system")

func tryLock(*os.File) (bool, error) { return false, errNoJournal }
func fdatasync(f *os.File) error     { return f.Sync() }
func syncAll(string) error           { return errNoJournal }

func allocate(f *os.File, size int64) error { return f.Truncate(size) }
func startWriteback(*os.File, int64, int64) {}

func setDirect(*os.File, bool) error { return errors.ErrUnsupported }
