package fsblob

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// O_DIRECT writes for the journal's mover (see moverDirect).

const (
	// directAlign is the alignment O_DIRECT asks of file offsets, lengths
	// and memory: a page, a multiple of every logical block size in use.
	directAlign = 4096
	// directBufferSize is the mover's O_DIRECT buffer, a multiple of
	// directAlign.
	directBufferSize = 1 << 20
)

// errDirectUnsupported: the file system refused O_DIRECT, and nothing was
// written.
var errDirectUnsupported = errors.New("fsblob: O_DIRECT is not supported here")

// alignedBytes returns n bytes starting at a multiple of directAlign.
func alignedBytes(n int) []byte {
	raw := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%directAlign)) % directAlign
	return raw[skip : skip+n : skip+n]
}

// writeDirect writes size bytes from r to the empty file f: the whole
// blocks through O_DIRECT, copied into buf (aligned, its length a
// multiple of directAlign), and the tail shorter than a block through the
// page cache.
func writeDirect(f *os.File, r io.Reader, size int64, buf []byte) error {
	blocks := size &^ (directAlign - 1)
	if blocks > 0 {
		if err := setDirect(f, true); err != nil {
			return fmt.Errorf("%w: %w", errDirectUnsupported, err)
		}
		for done := int64(0); done < blocks; {
			n := int(min(int64(len(buf)), blocks-done))
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				return err
			}
			if _, err := f.Write(buf[:n]); err != nil {
				if done == 0 && errors.Is(err, syscall.EINVAL) {
					return fmt.Errorf("%w: %w", errDirectUnsupported, err)
				}
				return err
			}
			done += int64(n)
		}
		if err := setDirect(f, false); err != nil {
			return err
		}
	}
	tail := buf[:size-blocks]
	if _, err := io.ReadFull(r, tail); err != nil {
		return err
	}
	_, err := f.Write(tail)
	return err
}

// rewind empties f for a second attempt after errDirectUnsupported.
func rewind(f *os.File) error {
	if err := setDirect(f, false); err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}
