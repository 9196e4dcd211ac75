package fsblob

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the range to the disk
// without waiting for it (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). It
// makes nothing durable by itself: the fsync at the end of a write still
// does that, and waits for these writes too. Failure is harmless, the fsync
// then does all the work.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
