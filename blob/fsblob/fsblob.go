// Package fsblob is the local file system driver of radmark.BlobStore, the
// default blob storage of a single-machine radmark. It owns the layout of a
// blob folder — one file per key at the key's path under the root, and a
// private ".tmp" folder (with a few folders inside, so that concurrent
// writes do not queue on one folder) for writes in progress — and the
// write protocol that
// makes a Put atomic and durable: stream into a temp file on the same file
// system, fsync it, rename it into place, fsync the folders above it.
//
// With Options.Journal (journal.go) small objects are instead acknowledged
// after one durable append to a preallocated log and moved into the tree in
// the background; an owner may write its own record (an index row) into the
// same append (PutRecordSyncing), so one fdatasync makes both durable.
//
// It is written on the standard library alone (and x/sys for flock,
// fdatasync and syncfs): the protocol is a few careful
// system calls, and no maintained library gives the guarantees radmark
// promises (a crash never leaves a partial object, an acknowledged object
// survives power loss, concurrent writers and deleters never corrupt each
// other).
//
// The root must be one file system (rename does not cross file systems), and
// is best kept on a case-sensitive one: keys "A" and "a" are distinct objects.
package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob"
)

const (
	// tempDirName is the folder, directly under the root, where Put writes
	// before renaming. blob.CheckKey rejects segments starting with '.', so no
	// key can name it or anything inside it.
	tempDirName = ".tmp"
	// staleTempAge is how old a temp file must be before Open deletes it as
	// the leftover of a crash. Other processes may share the root (several
	// replicas on one host, a CLI ingest beside the server), so a young temp
	// file may be a Put in progress; a live Put touches its file with every
	// write, so only a write stalled for an hour could be mistaken for junk.
	staleTempAge = time.Hour
	// tempSpread is how many folders inside the temp folder Puts create
	// their files in, in turn. Creating a file locks its folder for the
	// whole inode allocation, which on a busy file system can take most of
	// a millisecond: with one folder, concurrent uploads queued there (and
	// spun on the lock, burning CPU).
	tempSpread = 16
	// tempSpreadPrefix names those folders: .tmp/s0 to .tmp/s15.
	tempSpreadPrefix = "s"
	// dirPerm keeps blob folders private to the service account: the objects
	// are DICOM files full of patient data. Files get 0600 from CreateTemp.
	dirPerm = 0o700
	// placeAttempts bounds how often Put retries creating the parent folders
	// and renaming when a concurrent Delete keeps removing a folder it has
	// just made (see place); each retry needs a fresh race lost.
	placeAttempts = 100
	// copyBufferSize is large enough that streaming a multi-gigabyte
	// enhanced CT costs few system calls, and small enough to pool.
	copyBufferSize = 256 << 10
	// sha256HexLen is the length of a hex SHA-256 digest.
	sha256HexLen = 2 * sha256.Size
)

// Store is a radmark.BlobStore kept in a folder. It holds no open files or
// locks, so any number of Stores (in one or several processes) may share a
// root; all methods are safe for concurrent use.
type Store struct {
	root string // absolute and clean
	tmp  string // root/.tmp

	// durable maps folders whose own entry this Store has made durable to
	// their identity (see syncFolders).
	durableMu sync.Mutex
	durable   map[string]dirID

	// nextTemp picks the spread folder of the next temp file.
	nextTemp atomic.Uint32

	// j, if set, is the journal Puts of small objects go through (see
	// journal.go).
	j *journal

	// failpoint, when set (by tests only), runs before each step of a write
	// and fails the step with its error: that is how the tests reach the
	// disk-full and I/O-error paths that a healthy disk never takes.
	failpoint func(op, path string) error
}

var _ radmark.BlobStore = (*Store)(nil)

// Open opens the blob store rooted at location, creating the folder if it is
// missing, and deletes temp files that a crashed process left more than an
// hour ago. location is "file:///abs/dir", "file://relative/dir" (relative to
// the working directory, so "file://localhost/x" is the folder localhost/x),
// or a plain path. It returns radmark.EINVALID for a location it cannot use.
func Open(ctx context.Context, location string) (*Store, error) {
	dir, err := dirFromURL(location)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fsblob: open %s: %w", dir, err)
	}
	if err := makeRoot(root); err != nil {
		return nil, err
	}
	s := &Store{root: root, tmp: filepath.Join(root, tempDirName)}
	if err := os.Mkdir(s.tmp, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("fsblob: open %s: %w", root, err)
	}
	if !isDir(s.tmp) {
		return nil, radmark.Errorf(radmark.EINVALID, "blob store %s: %s is not a folder", root, s.tmp)
	}
	if err := s.removeStaleTemps(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the absolute path of the store's folder.
func (s *Store) Root() string { return s.root }

// dirFromURL turns an Open location into a folder path.
func dirFromURL(location string) (string, error) {
	if location == "" {
		return "", radmark.Errorf(radmark.EINVALID, "blob store location is empty")
	}
	if !strings.HasPrefix(location, "file:") {
		if i := strings.Index(location, "://"); i > 0 {
			return "", radmark.Errorf(radmark.EINVALID, "blob store location %q: the file system driver takes file:// URLs or plain paths, not %s://", location, location[:i])
		}
		return location, nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return "", radmark.Errorf(radmark.EINVALID, "blob store location %q is not a valid URL: %w", location, err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", radmark.Errorf(radmark.EINVALID, "blob store location %q: a file URL takes no user, query or fragment", location)
	}
	// file:///abs/dir has an empty host; file://relative/dir puts the first
	// segment in the host, which is how people write relative file URLs;
	// file:relative/dir is opaque.
	dir := u.Opaque
	if dir == "" {
		dir = u.Host + u.Path
	}
	if dir == "" {
		return "", radmark.Errorf(radmark.EINVALID, "blob store location %q names no folder", location)
	}
	return filepath.FromSlash(dir), nil
}

// makeRoot creates root if needed. When it creates folders it fsyncs their
// parents, because Put makes objects durable only up to the root: a root
// whose own directory entry is lost in a crash would take every object in it
// along.
func makeRoot(root string) error {
	// Find the deepest existing ancestor; everything below it is ours to create.
	existing := root
	for {
		fi, err := os.Stat(existing)
		if err == nil {
			if !fi.IsDir() {
				return radmark.Errorf(radmark.EINVALID, "blob store location %s is not a folder", existing)
			}
			break
		}
		// ENOTDIR: a file further up; the walk will find and report it.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("fsblob: open %s: %w", root, err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	if existing == root {
		return nil
	}
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return fmt.Errorf("fsblob: create %s: %w", root, err)
	}
	for d := root; d != existing; d = filepath.Dir(d) {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("fsblob: create %s: %w", root, err)
		}
	}
	return nil
}

// removeStaleTemps deletes temp files older than staleTempAge: those
// directly in the temp folder and in its spread folders (which stay, being
// in use by live Puts), and anything else found there.
func (s *Store) removeStaleTemps(ctx context.Context) error {
	cutoff := time.Now().Add(-staleTempAge)
	var errs []error
	var clean func(dir string, top bool) error
	clean = func(dir string, top bool) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !top && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("fsblob: clean %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("fsblob: clean %s: %w", dir, err)
			}
			p := filepath.Join(dir, e.Name())
			if top && e.IsDir() && isSpreadFolder(e.Name()) {
				if err := clean(p, false); err != nil {
					return err
				}
				continue
			}
			fi, err := e.Info()
			if err != nil || !fi.ModTime().Before(cutoff) {
				continue // vanished (another process cleaned it) or young
			}
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	}
	if err := clean(s.tmp, true); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fsblob: clean %s: %w", s.tmp, err)
	}
	return nil
}

// isSpreadFolder reports whether name is one of the temp folder's spread
// folders (see tempSpread).
func isSpreadFolder(name string) bool {
	n, ok := strings.CutPrefix(name, tempSpreadPrefix)
	if !ok || n == "" || len(n) > 2 {
		return false
	}
	i, err := strconv.Atoi(n)
	return err == nil && i >= 0 && i < tempSpread && strconv.Itoa(i) == n
}

// path maps a key (already checked) to its file.
func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *Store) fail(op, path string) error {
	if s.failpoint == nil {
		return nil
	}
	return s.failpoint(op, path)
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// Put stores r under key; see radmark.BlobStore. It returns EINVALID for a
// bad key or size and for a body whose length differs from size, ECONFLICT
// when the key and an existing object would need the same name as both file
// and folder (for example "a" and "a/b"), the reader's error (wrapped) when
// reading fails, and the context's error when ctx ends first. A Put that
// fails stores nothing and leaves no temp file, with one exception: if
// fsyncing the folders fails after the rename, the complete new object may
// be in place but is not known to be durable, and Put reports the error.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (radmark.BlobInfo, error) {
	if err := blob.CheckKey(key); err != nil {
		return radmark.BlobInfo{}, err
	}
	if size < -1 {
		return radmark.BlobInfo{}, radmark.Errorf(radmark.EINVALID, "blob %s: size %d is negative (use -1 for unknown)", blob.QuoteKey(key), size)
	}
	info, err := s.put(ctx, key, r, size, "")
	if err != nil {
		return radmark.BlobInfo{}, fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(key), err)
	}
	return info, nil
}

// PutWithDigest is Put for a caller that already computed the body's
// sha256 while receiving it: the digest is recorded as given instead of
// being computed a second time (on ingest the second hash was a tenth of
// the CPU). The size must be known.
func (s *Store) PutWithDigest(ctx context.Context, key string, r io.Reader, size int64, sha256Hex string) (radmark.BlobInfo, error) {
	if err := blob.CheckKey(key); err != nil {
		return radmark.BlobInfo{}, err
	}
	if size < 0 || len(sha256Hex) != 64 {
		return radmark.BlobInfo{}, radmark.Errorf(radmark.EINVALID, "blob %s: PutWithDigest needs the size and a sha256 digest", blob.QuoteKey(key))
	}
	info, err := s.put(ctx, key, r, size, sha256Hex)
	if err != nil {
		return radmark.BlobInfo{}, fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(key), err)
	}
	return info, nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, knownSum string) (radmark.BlobInfo, error) {
	if err := ctx.Err(); err != nil {
		return radmark.BlobInfo{}, err
	}
	if s.j != nil {
		if info, ok, err := s.j.put(ctx, key, r, size, knownSum); ok {
			return info, err
		}
		if err := s.settleKey(key); err != nil {
			return radmark.BlobInfo{}, err
		}
	}
	f, err := s.createTemp()
	if err != nil {
		return radmark.BlobInfo{}, err
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close() // may already be closed; the error is moot
			os.Remove(f.Name())
		}
	}()

	var h hash.Hash
	if knownSum == "" {
		h = sha256.New()
	}
	var src io.Reader = &ctxReader{ctx: ctx, r: r}
	if size >= 0 {
		// Read one byte past the declared size: enough to detect a longer
		// body without letting a runaway body fill the disk.
		src = io.LimitReader(src, size+1)
	}
	buf := copyBuffers.Get().(*[]byte)
	tw := &tempWriter{s: s, f: f, h: h}
	n, err := io.CopyBuffer(tw, src, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		return radmark.BlobInfo{}, err
	}
	switch {
	case size >= 0 && n > size:
		return radmark.BlobInfo{}, radmark.Errorf(radmark.EINVALID, "blob %s: size mismatch: declared %d bytes, the body is longer", blob.QuoteKey(key), size)
	case size >= 0 && n < size:
		return radmark.BlobInfo{}, radmark.Errorf(radmark.EINVALID, "blob %s: size mismatch: declared %d bytes, the body has %d", blob.QuoteKey(key), size, n)
	}
	sum := knownSum
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	info, err := s.finish(ctx, key, f, sum)
	renamed = err == nil || info.Key != ""
	if err != nil {
		return radmark.BlobInfo{}, err
	}
	return info, nil
}

// finish makes the complete temp file f the object at key: it records the
// digest, fsyncs and closes f, renames it into place and makes the rename
// durable. On failure before the rename the caller removes f; the returned
// info has a Key only if the rename happened (the object is then in place,
// not known to be durable).
func (s *Store) finish(ctx context.Context, key string, f *os.File, sum string) (radmark.BlobInfo, error) {
	if err := s.syncTemp(f, sum); err != nil {
		return radmark.BlobInfo{}, err
	}
	return s.finishSynced(ctx, key, f, sum)
}

// syncTemp records the digest on the complete temp file f and fsyncs it.
func (s *Store) syncTemp(f *os.File, sum string) error {
	setSHA256(f, sum)
	if err := s.fail("sync", f.Name()); err != nil {
		return err
	}
	return f.Sync()
}

// finishSynced is finish for a temp file syncTemp has made durable.
func (s *Store) finishSynced(ctx context.Context, key string, f *os.File, sum string) (radmark.BlobInfo, error) {
	// The rename keeps the file's mtime, so this is what Stat will report.
	fi, err := f.Stat()
	if err != nil {
		return radmark.BlobInfo{}, err
	}
	if err := s.fail("close", f.Name()); err != nil {
		return radmark.BlobInfo{}, err
	}
	if err := f.Close(); err != nil {
		return radmark.BlobInfo{}, err
	}
	// Last chance to honour cancellation: after the rename the object exists.
	if err := ctx.Err(); err != nil {
		return radmark.BlobInfo{}, err
	}
	dst := s.path(key)
	if err := s.place(key, f.Name(), dst); err != nil {
		return radmark.BlobInfo{}, err
	}
	info := radmark.BlobInfo{Key: key, Size: fi.Size(), SHA256: sum, ModTime: fi.ModTime()}
	if err := s.syncFolders(filepath.Dir(dst)); err != nil {
		return info, err
	}
	return info, nil
}

// dirID tells one folder from another made later under the same name. Birth
// times come from the kernel's coarse clock (a few milliseconds), so a
// folder removed by another process and made again within one tick, on a
// reused inode, passes for the old one; this process forgets the folders
// it removes itself (Delete).
type dirID struct {
	ino       uint64
	btimeSec  int64
	btimeNsec uint32
}

// maxDurableDirs bounds the memory of folders known to be durable; past it
// the memory starts over (which only costs extra folder syncs).
const maxDurableDirs = 1 << 16

// syncFolders makes an entry just renamed into dir durable: it syncs dir,
// then each folder above it whose own entry is not known to be durable,
// up to the root. Every folder up to the root must be durable, not only
// those this Put created: a folder another Put (in this process or
// another) created a moment ago may not be synced yet, and this object
// would vanish with it.
//
// A folder's entry is known to be durable once this Store has synced its
// parent after seeing the folder there; the folder is remembered by
// identity (inode and birth time), so a folder removed and made again
// under the same name, by any process, is not taken for the old one. In
// the common case, a Put into an existing fan-out folder, that is one
// folder sync instead of one per level. A folder may already be gone if a
// concurrent Delete won the race; the folders above it still need their
// sync.
func (s *Store) syncFolders(dir string) error {
	var child string // the folder below d whose entry d's sync makes durable
	var childID dirID
	haveChild := false
	for d := dir; ; d = filepath.Dir(d) {
		id, ok, err := s.syncDir(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil && haveChild {
			s.rememberDurable(child, childID)
		}
		if d == s.root {
			return nil
		}
		if err == nil && ok && s.knownDurable(d, id) {
			return nil
		}
		child, childID, haveChild = d, id, err == nil && ok
	}
}

func (s *Store) knownDurable(dir string, id dirID) bool {
	s.durableMu.Lock()
	defer s.durableMu.Unlock()
	known, ok := s.durable[dir]
	return ok && known == id
}

func (s *Store) rememberDurable(dir string, id dirID) {
	s.durableMu.Lock()
	defer s.durableMu.Unlock()
	if s.durable == nil || len(s.durable) >= maxDurableDirs {
		s.durable = make(map[string]dirID)
	}
	s.durable[dir] = id
}

func (s *Store) forgetDurable(dir string) {
	s.durableMu.Lock()
	defer s.durableMu.Unlock()
	delete(s.durable, dir)
}

// createTemp creates a temp file for a Put in the next spread folder,
// making it (and the temp folder, if someone tidied it away while the
// store was open) when missing. Temp files need no durable folder entry:
// they are renamed away or abandoned.
func (s *Store) createTemp() (*os.File, error) {
	dir := filepath.Join(s.tmp, tempSpreadPrefix+strconv.Itoa(int(s.nextTemp.Add(1)%tempSpread)))
	if err := s.fail("create", dir); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "put-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return nil, err
		}
		f, err = os.CreateTemp(dir, "put-*")
	}
	return f, err
}

// place creates dst's parent folders and renames tmp to dst, retrying
// where a retry can succeed.
func (s *Store) place(key, tmp, dst string) error {
	parent := filepath.Dir(dst)
	clearedDst := false
	for attempt := 1; ; attempt++ {
		err := s.fail("mkdir", parent)
		if err == nil {
			err = os.MkdirAll(parent, dirPerm)
		}
		if err == nil {
			if err = s.fail("rename", dst); err == nil {
				err = os.Rename(tmp, dst)
			}
		}
		switch {
		case err == nil:
			return nil
		case attempt >= placeAttempts:
		case errors.Is(err, fs.ErrNotExist) && exists(tmp):
			// A concurrent Delete removed an empty folder between our mkdir
			// and rename (it cannot know we are about to fill it): make it
			// again.
			continue
		case errors.Is(err, fs.ErrExist) && s.fileAncestor(dst) == "" && !isDir(dst):
			// os.MkdirAll's mkdir of a parent found it present, and a
			// concurrent Delete pruned it before MkdirAll could see it was a
			// folder: neither a file in the way nor a folder at dst explains
			// the error, so make the folders again.
			continue
		case !clearedDst && isDir(dst):
			// dst is a folder. If it holds no objects it is debris of a crash
			// (Delete prunes folders only when it runs to the end), and must
			// not block the key forever.
			clearedDst = true
			removeEmptyTree(dst)
			continue
		}
		return s.conflict(key, dst, err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

// removeEmptyTree removes the folders of the tree at dir bottom-up with
// rmdir, so it removes nothing if any file is in the tree, including one a
// concurrent Put renames in while the walk runs.
func removeEmptyTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyTree(filepath.Join(dir, e.Name()))
		}
	}
	rmdir(dir)
}

// fileAncestor returns the first folder on dst's path below the root that
// is not a folder (an object whose key is a prefix of dst's), or "".
func (s *Store) fileAncestor(dst string) string {
	for d := filepath.Dir(dst); d != s.root && len(d) > len(s.root); d = filepath.Dir(d) {
		if fi, err := os.Lstat(d); err == nil && !fi.IsDir() {
			return d
		}
	}
	return ""
}

// conflict turns a failed mkdir or rename into ECONFLICT when the cause is a
// key that would have to be both a file and a folder, and returns err
// unchanged otherwise.
func (s *Store) conflict(key, dst string, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
		if d := s.fileAncestor(dst); d != "" {
			other := filepath.ToSlash(strings.TrimPrefix(d, s.root+string(filepath.Separator)))
			return &radmark.Error{Code: radmark.ECONFLICT, Err: err,
				Message: fmt.Sprintf("blob key %s needs %q to be a folder, but it is an object", blob.QuoteKey(key), other)}
		}
	}
	if fi, statErr := os.Lstat(dst); statErr == nil && fi.IsDir() {
		return &radmark.Error{Code: radmark.ECONFLICT, Err: err,
			Message: fmt.Sprintf("blob key %s is the folder of other objects", blob.QuoteKey(key))}
	}
	return err
}

func (s *Store) syncDir(dir string) (dirID, bool, error) {
	if err := s.fail("syncdir", dir); err != nil {
		return dirID{}, false, err
	}
	return syncDirIdentify(dir)
}

// tempWriter writes to the temp file and the running hash.
type tempWriter struct {
	s *Store
	f *os.File
	h hash.Hash
	n int64 // bytes written
}

func (w *tempWriter) Write(p []byte) (int, error) {
	if err := w.s.fail("write", w.f.Name()); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	if w.h != nil {
		w.h.Write(p[:n])
	}
	w.n += int64(n)
	return n, err
}

// ctxReader stops a copy once ctx ends, between reads of the source.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading the body: %w", err)
	}
	return n, err
}

// Get opens the object at key; see radmark.BlobStore. It returns EINVALID
// for a bad key and ENOTFOUND when there is no object. The returned info's
// SHA256 is empty when the file system does not keep it (see setSHA256).
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, radmark.BlobInfo, error) {
	f, info, err := s.open(ctx, "get", key)
	if err != nil {
		return nil, radmark.BlobInfo{}, err
	}
	return f, info, nil
}

// GetRange opens length bytes of the object at key starting at offset. It
// returns EINVALID for a bad key or a range outside the object and
// ENOTFOUND when there is no object. Only the requested bytes are read.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "blob %s: range offset %d length %d is negative", blob.QuoteKey(key), offset, length)
	}
	f, info, err := s.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	if offset > info.Size || length > info.Size-offset {
		f.Close()
		return nil, radmark.Errorf(radmark.EINVALID, "blob %s: range offset %d length %d lies outside the object's %d bytes", blob.QuoteKey(key), offset, length, info.Size)
	}
	return &sectionReadCloser{SectionReader: io.NewSectionReader(f, offset, length), f: f}, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	f io.Closer
}

func (r *sectionReadCloser) Close() error { return r.f.Close() }

// Stat describes the object at key; EINVALID for a bad key, ENOTFOUND when
// there is none.
func (s *Store) Stat(ctx context.Context, key string) (radmark.BlobInfo, error) {
	// Open rather than stat the path, so size, time and hash all come from
	// one file even while a concurrent Put replaces it.
	f, info, err := s.open(ctx, "stat", key)
	if err != nil {
		return radmark.BlobInfo{}, err
	}
	f.Close()
	return info, nil
}

// object is an open object: its file, or its record in the journal.
type object interface {
	io.Reader
	io.ReaderAt
	io.Closer
}

// open opens the object at key and describes it.
func (s *Store) open(ctx context.Context, op, key string) (object, radmark.BlobInfo, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, radmark.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, radmark.BlobInfo{}, fmt.Errorf("fsblob: %s %s: %w", op, blob.QuoteKey(key), err)
	}
	if s.j != nil {
		if r, info, ok := s.j.lookup(key); ok {
			return r, info, nil
		}
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, radmark.BlobInfo{}, notFound(key, err)
		}
		return nil, radmark.BlobInfo{}, fmt.Errorf("fsblob: %s %s: %w", op, blob.QuoteKey(key), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, radmark.BlobInfo{}, fmt.Errorf("fsblob: %s %s: %w", op, blob.QuoteKey(key), err)
	}
	if !fi.Mode().IsRegular() {
		// A folder holding other objects' files ("a" when "a/b" exists) is
		// not an object.
		f.Close()
		return nil, radmark.BlobInfo{}, notFound(key, nil)
	}
	return f, radmark.BlobInfo{Key: key, Size: fi.Size(), SHA256: getSHA256(f), ModTime: fi.ModTime()}, nil
}

func notFound(key string, err error) error {
	return &radmark.Error{Code: radmark.ENOTFOUND, Message: fmt.Sprintf("blob %s not found", blob.QuoteKey(key)), Err: err}
}

// Delete removes the object at key, then the folders it leaves empty up to
// the root; a missing key is not an error. It returns EINVALID for a bad key.
//
// Folders are removed with rmdir, which fails on a non-empty folder, so a
// concurrent Put that has already renamed its file into a folder keeps it;
// one that has created the folder but not yet renamed retries (see place).
// A crash part-way leaves empty folders behind; they are invisible to List
// and Put clears them when they stand in the way of a key.
// Once Delete returns, the removal is durable.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsblob: delete %s: %w", blob.QuoteKey(key), err)
	}
	if err := s.settleKey(key); err != nil {
		return fmt.Errorf("fsblob: delete %s: %w", blob.QuoteKey(key), err)
	}
	p := s.path(key)
	// unlink, unlike os.Remove, never removes a folder: "a" may be the
	// folder of other objects, and must survive Delete("a").
	if err := unlink(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		if fi, statErr := os.Lstat(p); statErr == nil && fi.IsDir() {
			return nil // a folder, so there is no object at key
		}
		return fmt.Errorf("fsblob: delete %s: %w", blob.QuoteKey(key), err)
	}
	d := filepath.Dir(p)
	for d != s.root && s.fail("rmdir", d) == nil && rmdir(d) == nil {
		s.forgetDurable(d)
		d = filepath.Dir(d)
	}
	// Syncing the deepest surviving folder persists the unlink, or the
	// removal of the topmost emptied folder, which implies it: patient data
	// a user deleted must not reappear after a crash. The folder may have
	// just been removed by a concurrent Delete; then sync its parent.
	for {
		err := syncDir(d)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || d == s.root {
			return fmt.Errorf("fsblob: delete %s: %w", blob.QuoteKey(key), err)
		}
		d = filepath.Dir(d)
	}
}

// List calls fn for each object whose key starts with prefix, in byte-wise
// key order, and returns fn's first error unchanged. Infos carry key, size
// and time but no SHA256 (as an S3 listing would). Objects written or
// deleted during the walk may or may not be seen; files that are not
// objects (temp files, names that are not valid key segments, symbolic
// links) are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(radmark.BlobInfo) error) error {
	if s.j == nil {
		return s.list(ctx, s.root, "", prefix, fn)
	}
	// Objects still in the journal are merged in key order; one being
	// moved meanwhile may be in both, and is reported once.
	pending := s.j.pendingKeys(prefix)
	last := ""
	emit := func(info radmark.BlobInfo) error {
		for len(pending) > 0 && pending[0].Key <= info.Key {
			p := pending[0]
			pending = pending[1:]
			if p.Key == info.Key {
				info = p
				break
			}
			if p.Key > last {
				if err := fn(p); err != nil {
					return err
				}
				last = p.Key
			}
		}
		if last != "" && info.Key <= last {
			return nil
		}
		last = info.Key
		return fn(info)
	}
	if err := s.list(ctx, s.root, "", prefix, emit); err != nil {
		return err
	}
	for _, p := range pending {
		if p.Key > last {
			if err := fn(p); err != nil {
				return err
			}
			last = p.Key
		}
	}
	return nil
}

// settleKey makes sure no journal record of key is still to be replayed,
// so that a plain write or a delete of key is not undone by a crash.
func (s *Store) settleKey(key string) error {
	if s.j == nil || !s.j.isLive(key) {
		return nil
	}
	return s.j.settle()
}

// list walks dir, whose keys start with dirKey ("" or ending in '/').
func (s *Store) list(ctx context.Context, dir, dirKey, prefix string, fn func(radmark.BlobInfo) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // removed by a concurrent Delete
		}
		return fmt.Errorf("fsblob: list %q: %w", prefix, err)
	}
	// ReadDir sorts by name, but key order compares a folder "a" as "a/",
	// which sorts after "a-b" and "a.b" ('-' and '.' are below '/').
	type item struct {
		sortKey string
		entry   fs.DirEntry
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if blob.CheckKey(name) != nil {
			continue // ".tmp", and anything that is not a key segment
		}
		sortKey := name
		if e.IsDir() {
			sortKey += "/"
		}
		items = append(items, item{sortKey, e})
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.sortKey, b.sortKey) })

	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fsblob: list %q: %w", prefix, err)
		}
		key := dirKey + it.entry.Name()
		switch t := it.entry.Type(); {
		case t.IsDir():
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue // nothing below can match
			}
			if err := s.list(ctx, filepath.Join(dir, it.entry.Name()), sub, prefix, fn); err != nil {
				return err
			}
		case t.IsRegular():
			if !strings.HasPrefix(key, prefix) {
				continue
			}
			fi, err := it.entry.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted since ReadDir
				}
				return fmt.Errorf("fsblob: list %q: %w", prefix, err)
			}
			if err := fn(radmark.BlobInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}
