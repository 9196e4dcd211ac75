package fsblob

import (
	"encoding/hex"
	"os"
	"syscall"
	"unsafe"
)

// sha256Attr is the extended attribute in which Put records the object's
// digest, so Stat and Get can report it without reading the object. It is a
// cache: the archive index holds the authoritative digest, and a file system
// without user xattrs (or a backup copy that dropped them) just yields an
// empty SHA256, which radmark.BlobStore allows.
const sha256Attr = "user.radmark.sha256"

// setSHA256 records sum on the temp file before it is fsynced, so the
// attribute is as durable as the bytes. Failure is ignored on purpose (see
// sha256Attr): a missing cache must not fail a write.
func setSHA256(f *os.File, sum string) {
	name, err := syscall.BytePtrFromString(sha256Attr)
	if err != nil {
		return
	}
	value := []byte(sum)
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Go's syscall package has only path-based xattr calls; the fd-based
	// one cannot race with a concurrent rename.
	_ = rc.Control(func(fd uintptr) {
		syscall.Syscall6(syscall.SYS_FSETXATTR, fd, uintptr(unsafe.Pointer(name)),
			uintptr(unsafe.Pointer(&value[0])), uintptr(len(value)), 0, 0)
	})
}

// getSHA256 returns the digest Put recorded on the open file, or "" if there
// is none. Reading it from the descriptor guarantees it belongs to the bytes
// the caller will read, even if the key has been overwritten since.
func getSHA256(f *os.File) string {
	name, err := syscall.BytePtrFromString(sha256Attr)
	if err != nil {
		return ""
	}
	var buf [sha256HexLen + 1]byte // one spare byte to notice an over-long value
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var n uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		n, _, errno = syscall.Syscall6(syscall.SYS_FGETXATTR, fd, uintptr(unsafe.Pointer(name)),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	}); err != nil || errno != 0 || n != sha256HexLen {
		return ""
	}
	sum := buf[:sha256HexLen]
	if _, err := hex.Decode(make([]byte, sha256HexLen/2), sum); err != nil {
		return ""
	}
	for _, c := range sum {
		if 'A' <= c && c <= 'F' {
			return "" // not written by Put, which writes lower case
		}
	}
	return string(sum)
}
