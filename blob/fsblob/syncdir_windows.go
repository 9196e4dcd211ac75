package fsblob

// syncDir does nothing on Windows: folders cannot be opened for
// FlushFileBuffers there, and NTFS journals its metadata changes itself.
func syncDir(dir string) error { return nil }

// syncDirIdentify cannot identify folders here, so Put syncs (that is, does
// nothing for) every folder up to the root.
func syncDirIdentify(dir string) (dirID, bool, error) { return dirID{}, false, nil }
