package fsblob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob"
	"github.com/radmark/radmark/blob/blobtest"
)

// openStore opens a store in a fresh folder and, when the test ends, fails
// it if any temp file is left behind: every path of the suite, failures
// included, must clean up after itself.
func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wantNoTemps(t, s) })
	return s
}

func wantNoTemps(t *testing.T, s *Store) {
	t.Helper()
	err := filepath.WalkDir(s.tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != s.tmp && !(d.IsDir() && filepath.Dir(path) == s.tmp && isSpreadFolder(d.Name())) {
			t.Errorf("temp file left behind: %s", strings.TrimPrefix(path, s.tmp))
		}
		return nil
	})
	if err != nil {
		t.Errorf("reading the temp folder: %v", err)
	}
}

func TestConformance(t *testing.T) {
	blobtest.TestBlobStore(t, func(t *testing.T) radmark.BlobStore { return openStore(t) })
}

func TestOpenLocations(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	for _, tc := range []struct {
		location string
		want     string // the root, relative to base unless absolute
	}{
		{"file://" + filepath.ToSlash(filepath.Join(base, "abs", "dir")), filepath.Join(base, "abs", "dir")},
		{"file://relative/dir", filepath.Join(base, "relative", "dir")},
		{"file://localhost/dir", filepath.Join(base, "localhost", "dir")},
		{"file:opaque/dir", filepath.Join(base, "opaque", "dir")},
		{"file://" + filepath.ToSlash(base) + "/with%20space", filepath.Join(base, "with space")},
		{"plain/dir", filepath.Join(base, "plain", "dir")},
		{filepath.Join(base, "plain-abs"), filepath.Join(base, "plain-abs")},
		{"./dots/../clean", filepath.Join(base, "clean")},
	} {
		s, err := Open(t.Context(), tc.location)
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.location, err)
		}
		if s.Root() != tc.want {
			t.Errorf("Open(%q).Root() = %q, want %q", tc.location, s.Root(), tc.want)
		}
		if fi, err := os.Stat(filepath.Join(tc.want, tempDirName)); err != nil || !fi.IsDir() {
			t.Errorf("Open(%q) did not create the folder and its temp folder: %v", tc.location, err)
		}
		if _, err := s.Put(t.Context(), "k", strings.NewReader("v"), 1); err != nil {
			t.Errorf("Put into %q: %v", tc.location, err)
		}
	}

	if err := os.WriteFile(filepath.Join(base, "a-file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(base, "tmp-is-a-file"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "tmp-is-a-file", tempDirName), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, location := range []string{
		"", "file://", "file:", "s3://bucket/prefix", "postgres://x", "file:///x?mode=ro",
		"file:///x#frag", "file://user@host/x", "file://%zz/x",
		"a-file", "file://a-file", "a-file/below", "tmp-is-a-file",
	} {
		_, err := Open(t.Context(), location)
		if code := radmark.ErrorCode(err); code != radmark.EINVALID {
			t.Errorf("Open(%q) = %v (code %q), want %s", location, err, code, radmark.EINVALID)
		}
	}
}

func TestStaleTempCleanup(t *testing.T) {
	s := openStore(t)
	old := filepath.Join(s.tmp, "put-crashed")
	young := filepath.Join(s.tmp, "put-in-progress")
	oldDir := filepath.Join(s.tmp, "odd-folder")
	// Temp files of Puts live in spread folders; the folders stay, stale
	// files in them go.
	spread := filepath.Join(s.tmp, "s3")
	oldSpread := filepath.Join(spread, "put-crashed")
	youngSpread := filepath.Join(spread, "put-in-progress")
	if err := os.MkdirAll(spread, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, young, oldSpread, youngSpread} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(oldDir, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{old, oldDir, oldSpread, spread} {
		if err := os.Chtimes(p, twoHoursAgo, twoHoursAgo); err != nil {
			t.Fatal(err)
		}
	}
	// An object the same age must survive: only temp files are swept.
	mustPut(t, s, "old/object", "keep me")
	if err := os.Chtimes(s.path("old/object"), twoHoursAgo, twoHoursAgo); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(t.Context(), s.root); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, oldDir, oldSpread} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stale %s survived Open: %v", strings.TrimPrefix(p, s.tmp), err)
		}
	}
	for _, p := range []string{young, youngSpread} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("young temp file %s (maybe a Put in progress elsewhere) was removed: %v", strings.TrimPrefix(p, s.tmp), err)
		}
		os.Remove(p)
	}
	wantObject(t, s, "old/object", "keep me")
}

// errDiskFull is what a failpoint injects: ENOSPC, the way the os package
// reports it.
func errDiskFull(op, path string) error {
	return &fs.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
}

// TestPutFailuresLeaveNothing fails each step of a Put the way a full or
// broken disk would, with and without an object already under the key.
func TestPutFailuresLeaveNothing(t *testing.T) {
	previous := "previous version"
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: several writes
	for _, step := range []string{"create", "write", "write#3", "sync", "close", "mkdir", "rename", "syncdir"} {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/existing=%v", step, existing), func(t *testing.T) {
				s := openStore(t)
				const key = "study/series/instance"
				if existing {
					mustPut(t, s, key, previous)
				}
				op, nth, _ := strings.Cut(step, "#")
				failAt, _ := strconv.Atoi(nth)
				calls := 0
				s.failpoint = func(o, path string) error {
					if o != op {
						return nil
					}
					if calls++; calls < failAt {
						return nil
					}
					return errDiskFull(o, path)
				}
				_, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)))
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Put with %s failing: %v, want ENOSPC", step, err)
				}
				s.failpoint = nil

				got, gerr := readObject(s, key)
				switch {
				case step == "syncdir":
					// After the rename the new object is complete, merely
					// not known to be durable.
					if gerr != nil || got != string(data) {
						t.Fatalf("after a failed folder sync: %d bytes, %v; want the complete new object", len(got), gerr)
					}
				case existing:
					if got != previous {
						t.Fatalf("previous object damaged: %d bytes, %v", len(got), gerr)
					}
				default:
					if radmark.ErrorCode(gerr) != radmark.ENOTFOUND {
						t.Fatalf("object exists after a failed Put: %d bytes, %v", len(got), gerr)
					}
				}
				// The store keeps working once the disk recovers.
				mustPut(t, s, key, "after")
				wantObject(t, s, key, "after")
			})
		}
	}
}

// TestPutSyncsFolders checks the durability protocol's bookkeeping: after
// the rename, each folder from the object's parent up to the root is
// synced, deepest first.
func TestPutSyncsFolders(t *testing.T) {
	s := openStore(t)
	var synced []string
	s.failpoint = func(op, path string) error {
		if op == "syncdir" {
			synced = append(synced, path)
		}
		return nil
	}
	mustPut(t, s, "x/y/z", "v")
	want := []string{filepath.Join(s.root, "x", "y"), filepath.Join(s.root, "x"), s.root}
	if !slices.Equal(synced, want) {
		t.Fatalf("synced %q, want %q", synced, want)
	}
	synced = nil
	mustPut(t, s, "top", "v")
	if !slices.Equal(synced, []string{s.root}) {
		t.Fatalf("synced %q, want just the root", synced)
	}

	// Folders whose entries this store has made durable are not synced
	// again: a second object in x/y needs only x/y synced.
	synced = nil
	mustPut(t, s, "x/y/z2", "v")
	if !slices.Equal(synced, want[:1]) {
		t.Fatalf("second object in a durable folder: synced %q, want %q", synced, want[:1])
	}
	synced = nil
	mustPut(t, s, "x/w", "v")
	if !slices.Equal(synced, []string{filepath.Join(s.root, "x")}) {
		t.Fatalf("object in a durable folder: synced %q, want just x", synced)
	}

	// A folder removed and made again, here behind the store's back as
	// another process would, is a new folder: its entry is synced again.
	for _, k := range []string{"x/y/z", "x/y/z2"} {
		if err := os.Remove(s.path(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(s.root, "x", "y")); err != nil {
		t.Fatal(err)
	}
	waitForNewBirthTime()
	synced = nil
	mustPut(t, s, "x/y/z", "v")
	if !slices.Equal(synced, want[:2]) {
		t.Fatalf("object in a remade folder: synced %q, want %q", synced, want[:2])
	}

	// A folder sync that fails leaves nothing remembered.
	if err := os.Remove(s.path("x/y/z")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.root, "x", "y")); err != nil {
		t.Fatal(err)
	}
	waitForNewBirthTime()
	s.failpoint = func(op, path string) error {
		if op == "syncdir" && path == filepath.Join(s.root, "x") {
			return errDiskFull(op, path)
		}
		return nil
	}
	if _, err := s.Put(t.Context(), "x/y/z", strings.NewReader("v"), 1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put with a failing folder sync: %v", err)
	}
	synced = nil
	s.failpoint = func(op, path string) error {
		if op == "syncdir" {
			synced = append(synced, path)
		}
		return nil
	}
	mustPut(t, s, "x/y/z", "v")
	if !slices.Equal(synced, want[:2]) {
		t.Fatalf("after a failed folder sync: synced %q, want %q", synced, want[:2])
	}
}

// waitForNewBirthTime lets the kernel's coarse clock, which stamps birth
// times, tick: a folder removed and made again within one tick can get the
// same inode number and birth time, and then passes for the old one (a
// limit of the identity syncFolders relies on, see dirID).
func waitForNewBirthTime() { time.Sleep(20 * time.Millisecond) }

func TestReadOnlyFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions; TestPutFailuresLeaveNothing covers the failure paths")
	}
	s := openStore(t)
	mustPut(t, s, "a/b", "kept")
	for _, d := range []string{s.tmp, filepath.Join(s.root, "a")} {
		if err := os.Chmod(d, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d, 0o700) })
	}
	if _, err := s.Put(t.Context(), "new", strings.NewReader("v"), 1); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Put with a read-only temp folder: %v, want a permission error", err)
	}
	os.Chmod(s.tmp, 0o700)
	if _, err := s.Put(t.Context(), "a/c", strings.NewReader("v"), 1); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Put into a read-only folder: %v, want a permission error", err)
	}
	wantObject(t, s, "a/b", "kept")
	if err := s.Delete(t.Context(), "a/b"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Delete from a read-only folder: %v, want a permission error", err)
	}
}

// TestFileAndFolderConflicts covers what S3 allows and a file system
// cannot: "a" as an object and as the folder of "a/b".
func TestFileAndFolderConflicts(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	mustPut(t, s, "a", "object a")
	_, err := s.Put(ctx, "a/b/c", strings.NewReader("v"), 1)
	if radmark.ErrorCode(err) != radmark.ECONFLICT || !strings.Contains(radmark.ErrorMessage(err), `"a"`) {
		t.Fatalf("Put(a/b/c) over object a: %v, want ECONFLICT naming a", err)
	}
	wantObject(t, s, "a", "object a")

	mustPut(t, s, "x/y", "object x/y")
	_, err = s.Put(ctx, "x", strings.NewReader("v"), 1)
	if radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Fatalf("Put(x) over folder x: %v, want ECONFLICT", err)
	}
	wantObject(t, s, "x/y", "object x/y")

	for _, key := range []string{"x", "a/b", "a/b/c"} {
		if _, err := s.Stat(ctx, key); radmark.ErrorCode(err) != radmark.ENOTFOUND {
			t.Errorf("Stat(%q): %v, want ENOTFOUND", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): %v, want nil (no such object)", key, err)
		}
	}
	wantObject(t, s, "a", "object a")
	wantObject(t, s, "x/y", "object x/y")
}

// TestCrashDebrisFolders: a crash between a Delete's unlink and its
// pruning leaves empty folders. They must not block a key forever, while a
// folder that still holds an object must.
func TestCrashDebrisFolders(t *testing.T) {
	s := openStore(t)
	if err := os.MkdirAll(filepath.Join(s.root, "a", "b", "c"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "a", "object a")
	wantObject(t, s, "a", "object a")

	mustPut(t, s, "x/y/obj", "kept")
	if err := os.MkdirAll(filepath.Join(s.root, "x", "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "x", strings.NewReader("v"), 1); radmark.ErrorCode(err) != radmark.ECONFLICT {
		t.Fatalf("Put(x) over a folder holding x/y/obj: %v, want ECONFLICT", err)
	}
	wantObject(t, s, "x/y/obj", "kept")
}

func TestDeletePrunesEmptyFolders(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	mustPut(t, s, "p/q/r/s", "deep")
	mustPut(t, s, "p/t", "shallow")
	if err := s.Delete(ctx, "p/q/r/s"); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"p/q/r", "p/q"} {
		if _, err := os.Lstat(filepath.Join(s.root, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("empty folder %s survived: %v", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.root, "p")); err != nil {
		t.Fatalf("folder p, still holding p/t, was removed: %v", err)
	}
	if err := s.Delete(ctx, "p/t"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != tempDirName {
		t.Fatalf("root holds %v after deleting everything, want only %s", entries, tempDirName)
	}
}

// TestPutRacesFolderPruning replays, deterministically, the race between
// a Put and a Delete of another key in the same folder: the Delete removes
// the folder the Put has just created, right before the Put's rename.
func TestPutRacesFolderPruning(t *testing.T) {
	s := openStore(t)
	pruned := 0
	s.failpoint = func(op, path string) error {
		if op == "rename" && pruned < 3 {
			pruned++
			// What Delete("x/y/other") does after unlinking its file.
			if err := rmdir(filepath.Dir(path)); err != nil {
				t.Errorf("simulated prune: %v", err)
			}
			if err := rmdir(filepath.Dir(filepath.Dir(path))); err != nil {
				t.Errorf("simulated prune: %v", err)
			}
		}
		return nil
	}
	mustPut(t, s, "x/y/mine", "v")
	if pruned != 3 {
		t.Fatalf("the race was replayed %d times, want 3", pruned)
	}
	wantObject(t, s, "x/y/mine", "v")
}

// TestDeletePruningSparesNewObject replays the other side: while Delete
// walks up removing empty folders, another Delete removes one of them and a
// Put stores an object under that very name. Pruning must not remove it.
func TestDeletePruningSparesNewObject(t *testing.T) {
	s := openStore(t)
	mustPut(t, s, "a/b/c", "doomed")
	s.failpoint = func(op, path string) error {
		if op == "rmdir" && path == s.path("a") {
			s.failpoint = nil
			if err := rmdir(path); err != nil {
				t.Errorf("simulated concurrent prune: %v", err)
			}
			mustPut(t, s, "a", "new object a")
		}
		return nil
	}
	if err := s.Delete(t.Context(), "a/b/c"); err != nil {
		t.Fatal(err)
	}
	wantObject(t, s, "a", "new object a")
}

func TestListSkipsForeignFiles(t *testing.T) {
	s := openStore(t)
	mustPut(t, s, "real/object", "v")
	// What an operator's tools or a crash may leave in the folder.
	for _, p := range []string{".DS_Store", "bad name", "real/.hidden", "lost+found/x", tempDirName + "/put-123"} {
		full := filepath.Join(s.root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Remove(filepath.Join(s.tmp, "put-123")) })
	if err := os.Symlink(s.path("real/object"), filepath.Join(s.root, "link")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.List(t.Context(), "", func(info radmark.BlobInfo) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"real/object"}) {
		t.Fatalf("List = %q, want only the real object", keys)
	}
}

func TestTempFolderRecreated(t *testing.T) {
	s := openStore(t)
	if err := os.RemoveAll(s.tmp); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", "v")
	wantObject(t, s, "k", "v")
}

func TestListHonoursContext(t *testing.T) {
	s := openStore(t)
	mustPut(t, s, "a", "v")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.List(ctx, "", func(radmark.BlobInfo) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("List with a cancelled context: %v", err)
	}
}

// FuzzKey checks that the key rule and the key-to-path mapping agree: every
// key blob.CheckKey accepts stays inside the root and round-trips through
// the store, and every key it rejects is rejected with EINVALID, a message
// naming it, and no trace on disk.
func FuzzKey(f *testing.F) {
	for _, k := range blobtest.InvalidKeys {
		f.Add(k)
	}
	for _, k := range blobtest.ValidKeys {
		f.Add(k)
	}
	for _, k := range []string{"a/b", "a/./b", "~", "a/~/b", "CON", "a\x7fb", "\u2215", "a/\u002e\u002e/b"} {
		f.Add(k)
	}
	s, err := Open(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		err := blob.CheckKey(key)
		if err == nil {
			local := filepath.FromSlash(key)
			if !filepath.IsLocal(local) || filepath.Clean(local) != local || strings.HasPrefix(key, tempDirName) {
				t.Fatalf("CheckKey accepts %q, which does not map to a plain path under the root", key)
			}
			if _, err := s.Put(ctx, key, strings.NewReader(key), int64(len(key))); err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			if got, err := readObject(s, key); err != nil || got != key {
				t.Fatalf("Get(%q) = %q, %v", key, got, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete(%q): %v", key, err)
			}
		} else {
			if radmark.ErrorCode(err) != radmark.EINVALID {
				t.Fatalf("CheckKey(%q) = %v, want EINVALID", key, err)
			}
			named := keyNamePrefix(key)
			if !strings.Contains(radmark.ErrorMessage(err), named) {
				t.Fatalf("CheckKey(%q) message %q does not name the key", key, radmark.ErrorMessage(err))
			}
			if _, err := s.Put(ctx, key, strings.NewReader("x"), 1); radmark.ErrorCode(err) != radmark.EINVALID {
				t.Fatalf("Put(%q) = %v, want EINVALID", key, err)
			}
		}
		// Whatever happened, nothing is left but the temp folder.
		entries, err := os.ReadDir(s.root)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != tempDirName {
			t.Fatalf("after key %q the root holds %v", key, entries)
		}
	})
}

// ---- helpers ----

func mustPut(t *testing.T, s *Store, key, data string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func readObject(s *Store, key string) (string, error) {
	rc, _, err := s.Get(context.Background(), key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func wantObject(t *testing.T, s *Store, key, want string) {
	t.Helper()
	got, err := readObject(s, key)
	if err != nil || got != want {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, got, err, want)
	}
}

// keyNamePrefix is how much of key an error message must repeat: its quoted
// first 32 bytes, cut back to a character boundary so the quoting matches.
func keyNamePrefix(key string) string {
	n := min(len(key), 32)
	for n > 0 && n < len(key) && !utf8.RuneStart(key[n]) {
		n--
	}
	return strings.TrimSuffix(strconv.Quote(key[:n]), `"`)
}

func TestPutWithDigest(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("known body")
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	info, err := s.PutWithDigest(ctx, "a/b", bytes.NewReader(body), int64(len(body)), hexSum)
	if err != nil || info.SHA256 != hexSum || info.Size != int64(len(body)) {
		t.Fatalf("PutWithDigest = %+v, %v", info, err)
	}
	if _, err := s.PutWithDigest(ctx, "a/c", bytes.NewReader(body), -1, hexSum); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("unknown size: %v", err)
	}
	if _, err := s.PutWithDigest(ctx, "a/c", bytes.NewReader(body), 3, hexSum); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("size mismatch: %v", err)
	}
}
