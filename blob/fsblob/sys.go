package fsblob

import (
	"io/fs"
	"syscall"
)

// unlink removes the file at path and, unlike os.Remove, never a folder.
func unlink(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &fs.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// rmdir removes the folder at path if it is empty and, unlike os.Remove,
// never a file: Delete prunes folders while other goroutines may be renaming
// objects into the same names.
func rmdir(path string) error {
	if err := syscall.Rmdir(path); err != nil {
		return &fs.PathError{Op: "rmdir", Path: path, Err: err}
	}
	return nil
}
