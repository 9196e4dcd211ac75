//go:build !windows

package fsblob

import "os"

// syncDir fsyncs a folder, which is what makes the creation, rename or
// removal of an entry in it survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
