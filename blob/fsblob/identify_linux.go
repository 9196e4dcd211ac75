package fsblob

import (
	"os"

	"golang.org/x/sys/unix"
)

// identify returns the identity of the open folder f: its inode number and
// birth time, which together tell a folder from one made later under the
// same name (inode numbers alone are reused). ok is false when the file
// system does not report a birth time.
func identify(f *os.File) (id dirID, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return dirID{}, false
	}
	var st unix.Statx_t
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_INO|unix.STATX_BTIME, &st)
	}); err != nil || serr != nil {
		return dirID{}, false
	}
	if st.Mask&unix.STATX_INO == 0 || st.Mask&unix.STATX_BTIME == 0 {
		return dirID{}, false
	}
	return dirID{ino: st.Ino, btimeSec: st.Btime.Sec, btimeNsec: st.Btime.Nsec}, true
}
