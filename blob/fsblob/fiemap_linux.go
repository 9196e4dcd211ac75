//go:build linux && (amd64 || arm64 || 386 || arm || riscv64 || loong64 || s390x)

package fsblob

import (
	"encoding/binary"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FIEMAP (linux/fiemap.h), which golang.org/x/sys does not define: the
// request number is _IOWR('f', 11, struct fiemap) in the generic ioctl
// encoding these architectures share.
const (
	fsIocFiemap             = 0xC020660B
	fiemapHeaderSize        = 32 // struct fiemap
	fiemapExtentSize        = 56 // struct fiemap_extent
	fiemapExtentLast        = 0x1
	fiemapExtentUnwritten   = 0x800
	fiemapExtentsPerRequest = 32
)

// firstUnwritten returns the offset of f's first block in [0, size) that
// is a hole or an unwritten (allocated, never written) extent, or size
// when there is none. A file system without FIEMAP answers size: its
// blocks are taken as written.
func firstUnwritten(f *os.File, size int64) int64 {
	le := binary.NativeEndian
	buf := make([]byte, fiemapHeaderSize+fiemapExtentsPerRequest*fiemapExtentSize)
	pos := int64(0)
	for pos < size {
		clear(buf)
		le.PutUint64(buf[0:], uint64(pos))
		le.PutUint64(buf[8:], uint64(size-pos))
		le.PutUint32(buf[24:], fiemapExtentsPerRequest)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0])))
		if errno != 0 {
			return size
		}
		mapped := int(le.Uint32(buf[20:]))
		if mapped == 0 {
			return pos // a hole to the end
		}
		for i := range mapped {
			e := buf[fiemapHeaderSize+i*fiemapExtentSize:]
			logical, length, flags := int64(le.Uint64(e[0:])), int64(le.Uint64(e[16:])), le.Uint32(e[40:])
			if logical > pos {
				return pos // a hole
			}
			if flags&fiemapExtentUnwritten != 0 {
				return max(pos, logical)
			}
			pos = max(pos, logical+length)
			if flags&fiemapExtentLast != 0 {
				return min(pos, size)
			}
		}
	}
	return size
}
