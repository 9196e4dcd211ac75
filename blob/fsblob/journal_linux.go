package fsblob

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// journalSupported: the journal needs flock, fdatasync and syncfs.
const journalSupported = true

// tryLock takes an exclusive lock on f without waiting; ok is false when
// another process holds it.
func tryLock(f *os.File) (ok bool, err error) {
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// fdatasync writes f's data, and its metadata only where reading the data
// back needs it.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// syncAll makes everything written to the file system holding dir
// durable (syncfs): the checkpoint's one call instead of an fsync per
// moved file and folder.
func syncAll(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// allocate reserves size bytes for f without writing them.
func allocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// startWriteback starts writing a just-appended record to the device
// without waiting: the fdatasync that makes it durable may have to wait
// for one already running, and by then the record's pages are on their
// way, so that sync mostly waits for the device's flush.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// setDirect turns O_DIRECT on or off for f.
func setDirect(f *os.File, on bool) error {
	fd := f.Fd()
	flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		flags |= unix.O_DIRECT
	} else {
		flags &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(fd, unix.F_SETFL, flags)
	return err
}
