//go:build !windows

package fsblob

import "os"

// syncDir fsyncs a folder, which is what makes the creation, rename or
// removal of an entry in it survive a power loss.
func syncDir(dir string) error {
	_, _, err := syncDirIdentify(dir)
	return err
}

// syncDirIdentify is syncDir that also says which folder it synced (see
// dirID); ok is false where the file system cannot tell.
func syncDirIdentify(dir string) (id dirID, ok bool, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return dirID{}, false, err
	}
	err = d.Sync()
	if err == nil {
		id, ok = identify(d)
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return id, ok, err
}
