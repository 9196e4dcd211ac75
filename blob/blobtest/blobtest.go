// Package blobtest is the conformance suite of radmark.BlobStore: every
// driver (blob/fsblob, the S3 driver) runs TestBlobStore from its own tests,
// so all of them keep the same contract — atomic and verified puts, exact
// range reads, idempotent deletes, ordered listing, one key syntax — and the
// rest of radmark can treat them as interchangeable.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/radmark/radmark"
)

// TestBlobStore runs the suite. open must return a new, empty store for each
// call (one per subtest) and arrange its cleanup with t.Cleanup. The
// subtests run one after another: the large-object test measures the
// process's allocations.
func TestBlobStore(t *testing.T, open func(t *testing.T) radmark.BlobStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, radmark.BlobStore)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"SizeMismatch", testSizeMismatch},
		{"NegativeSize", testNegativeSize},
		{"FailingReader", testFailingReader},
		{"CancelledContext", testCancelledContext},
		{"InFlightPutInvisible", testInFlightPutInvisible},
		{"GetRange", testGetRange},
		{"Stat", testStat},
		{"Delete", testDelete},
		{"List", testList},
		{"Keys", testKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentPutDeleteSameFolder", testConcurrentPutDeleteSameFolder},
		{"ConcurrentPutDeleteSameKey", testConcurrentPutDeleteSameKey},
		{"ConcurrentManyKeys", testConcurrentManyKeys},
		{"LargeObject", testLargeObject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// ---- helpers ----

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// randomBytes returns n reproducible bytes for seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	r.Read(b)
	return b
}

func mustPut(t *testing.T, s radmark.BlobStore, key string, data []byte) radmark.BlobInfo {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
	return info
}

func mustGet(t *testing.T, s radmark.BlobStore, key string) []byte {
	t.Helper()
	rc, _, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

// wantContent fails unless key holds exactly data.
func wantContent(t *testing.T, s radmark.BlobStore, key string, data []byte) {
	t.Helper()
	got := mustGet(t, s, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("Get(%q) = %d bytes (sha256 %.12s), want %d bytes (sha256 %.12s)", key, len(got), sum(got), len(data), sum(data))
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := radmark.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantAbsent fails unless key has no object, by Stat, Get and List.
func wantAbsent(t *testing.T, s radmark.BlobStore, key string) {
	t.Helper()
	_, err := s.Stat(t.Context(), key)
	wantCode(t, "Stat("+key+")", err, radmark.ENOTFOUND)
	rc, _, err := s.Get(t.Context(), key)
	if err == nil {
		rc.Close()
	}
	wantCode(t, "Get("+key+")", err, radmark.ENOTFOUND)
	if keys := listKeys(t, s, key); slices.Contains(keys, key) {
		t.Fatalf("List(%q) = %q, want no %q", key, keys, key)
	}
}

func listKeys(t *testing.T, s radmark.BlobStore, prefix string) []string {
	t.Helper()
	keys := []string{}
	err := s.List(t.Context(), prefix, func(info radmark.BlobInfo) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

// wantInfo checks the fields every info must get right. SHA256 may be
// empty where the interface allows it (not after Put).
func wantInfo(t *testing.T, what string, got radmark.BlobInfo, key string, data []byte, shaRequired bool) {
	t.Helper()
	if got.Key != key {
		t.Errorf("%s: Key = %q, want %q", what, got.Key, key)
	}
	if got.Size != int64(len(data)) {
		t.Errorf("%s: Size = %d, want %d", what, got.Size, len(data))
	}
	if (shaRequired || got.SHA256 != "") && got.SHA256 != sum(data) {
		t.Errorf("%s: SHA256 = %q, want %q", what, got.SHA256, sum(data))
	}
	// Clocks of object stores drift; a day catches zero and garbage times.
	if d := time.Since(got.ModTime); d > 24*time.Hour || d < -24*time.Hour {
		t.Errorf("%s: ModTime = %v, want about now", what, got.ModTime)
	}
}

// errReader yields data and then fails with err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// ---- tests ----

func testPutGet(t *testing.T, s radmark.BlobStore) {
	for _, n := range []int{0, 1, 100, 4095, 4096, 4097, 1<<20 + 3} {
		for _, sizeKnown := range []bool{true, false} {
			key := fmt.Sprintf("roundtrip/%d-%v", n, sizeKnown)
			data := randomBytes(uint64(n), n)
			size := int64(n)
			if !sizeKnown {
				size = -1
			}
			// A reader that is not a *bytes.Reader, so drivers cannot
			// take a shortcut the network would not offer.
			info, err := s.Put(t.Context(), key, io.MultiReader(bytes.NewReader(data)), size)
			if err != nil {
				t.Fatalf("Put(%q, size %d): %v", key, size, err)
			}
			wantInfo(t, "Put("+key+")", info, key, data, true)

			rc, ginfo, err := s.Get(t.Context(), key)
			if err != nil {
				t.Fatalf("Get(%q): %v", key, err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("Get(%q): read: %v", key, err)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Get(%q): close: %v", key, err)
			}
			if sum(got) != sum(data) || len(got) != n {
				t.Fatalf("Get(%q) = %d bytes sha256 %s, want %d bytes sha256 %s", key, len(got), sum(got), n, sum(data))
			}
			wantInfo(t, "Get("+key+")", ginfo, key, data, false)
		}
	}
}

func testOverwrite(t *testing.T, s radmark.BlobStore) {
	long := randomBytes(1, 10000)
	short := randomBytes(2, 300)
	mustPut(t, s, "study/1/instance", long)
	info := mustPut(t, s, "study/1/instance", short)
	wantInfo(t, "Put (overwrite)", info, "study/1/instance", short, true)
	wantContent(t, s, "study/1/instance", short)
	st, err := s.Stat(t.Context(), "study/1/instance")
	if err != nil {
		t.Fatal(err)
	}
	wantInfo(t, "Stat after overwrite", st, "study/1/instance", short, false)
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"study/1/instance"}) {
		t.Fatalf("List = %q, want exactly the one key", keys)
	}
	// Same bytes again is a plain overwrite too.
	mustPut(t, s, "study/1/instance", short)
	wantContent(t, s, "study/1/instance", short)
}

func testSizeMismatch(t *testing.T, s radmark.BlobStore) {
	previous := randomBytes(3, 500)
	mustPut(t, s, "kept", previous)
	body := randomBytes(4, 1000)
	cases := []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"body shorter", bytes.NewReader(body), 1001},
		{"body longer", bytes.NewReader(body), 999},
		{"empty body", bytes.NewReader(nil), 1},
		{"declared empty", bytes.NewReader(body), 0},
		// A body far longer than declared must still fail, not be stored
		// truncated.
		{"body much longer", bytes.NewReader(make([]byte, 1<<20)), 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, key := range []string{"new/" + strings.ReplaceAll(tc.name, " ", "-"), "kept"} {
				if rs, ok := tc.r.(io.Seeker); ok {
					rs.Seek(0, io.SeekStart)
				}
				_, err := s.Put(t.Context(), key, tc.r, tc.size)
				wantCode(t, fmt.Sprintf("Put(%q) %s", key, tc.name), err, radmark.EINVALID)
				if key == "kept" {
					wantContent(t, s, key, previous)
				} else {
					wantAbsent(t, s, key)
				}
			}
		})
	}
}

func testNegativeSize(t *testing.T, s radmark.BlobStore) {
	_, err := s.Put(t.Context(), "k", bytes.NewReader([]byte("x")), -2)
	wantCode(t, "Put with size -2", err, radmark.EINVALID)
	wantAbsent(t, s, "k")
}

func testFailingReader(t *testing.T, s radmark.BlobStore) {
	previous := randomBytes(5, 700)
	mustPut(t, s, "kept/object", previous)
	errBroken := errors.New("connection reset by test")
	for _, prefixLen := range []int{0, 1, 100 << 10} {
		for _, key := range []string{fmt.Sprintf("new/%d", prefixLen), "kept/object"} {
			for _, size := range []int64{-1, int64(prefixLen) + 10} {
				r := &errReader{data: randomBytes(6, prefixLen), err: errBroken}
				_, err := s.Put(t.Context(), key, r, size)
				if !errors.Is(err, errBroken) {
					t.Fatalf("Put(%q) from a reader failing after %d bytes: %v, want an error wrapping %v", key, prefixLen, err, errBroken)
				}
				if key == "kept/object" {
					wantContent(t, s, key, previous)
				} else {
					wantAbsent(t, s, key)
				}
			}
		}
	}
	// A reader error that carries a code keeps it (an HTTP body limit, say).
	tooLarge := radmark.Errorf(radmark.ETOOLARGE, "body exceeds the limit")
	_, err := s.Put(t.Context(), "new/too-large", &errReader{data: []byte("abc"), err: tooLarge}, -1)
	wantCode(t, "Put from a reader failing with ETOOLARGE", err, radmark.ETOOLARGE)
	wantAbsent(t, s, "new/too-large")
}

// cancellingReader cancels its context after the first chunk and keeps
// yielding data, as a client that hangs up mid-upload while bytes are
// still buffered.
type cancellingReader struct {
	cancel func()
	left   int
	chunk  []byte
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunk[:min(len(r.chunk), r.left)])
	r.left -= n
	r.cancel()
	return n, nil
}

func testCancelledContext(t *testing.T, s radmark.BlobStore) {
	previous := randomBytes(7, 300)
	mustPut(t, s, "kept", previous)
	for _, key := range []string{"new", "kept"} {
		check := func() {
			t.Helper()
			if key == "kept" {
				wantContent(t, s, key, previous)
			} else {
				wantAbsent(t, s, key)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Put(ctx, key, bytes.NewReader([]byte("data")), 4)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put(%q) with a cancelled context: %v, want context.Canceled", key, err)
		}
		check()

		for _, size := range []int64{-1, 4 << 20} {
			ctx, cancel = context.WithCancel(t.Context())
			r := &cancellingReader{cancel: cancel, left: 4 << 20, chunk: randomBytes(8, 64<<10)}
			_, err = s.Put(ctx, key, r, size)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put(%q, size %d) cancelled mid-stream: %v, want context.Canceled", key, size, err)
			}
			check()
		}
	}

	// A cancelled Put stops reading soon: a client that hung up must not
	// keep the store draining (and writing) its body to the end.
	const bodySize = 256 << 20
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancellingReader{cancel: cancel, left: bodySize, chunk: make([]byte, 64<<10)}
	_, err := s.Put(ctx, "endless", r, -1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put cancelled mid-stream: %v, want context.Canceled", err)
	}
	if read := bodySize - r.left; read > 64<<20 {
		t.Fatalf("Put cancelled after the first 64 KiB went on to read %d MiB", read>>20)
	}
	wantAbsent(t, s, "endless")
}

func testInFlightPutInvisible(t *testing.T, s radmark.BlobStore) {
	previous := randomBytes(9, 100)
	mustPut(t, s, "replaced", previous)
	for _, key := range []string{"fresh/key", "replaced"} {
		data := randomBytes(10, 256<<10)
		pr, pw := io.Pipe()
		defer pw.CloseWithError(errors.New("test ended")) // frees the Put if the test fails early
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(context.Background(), key, pr, int64(len(data)))
			done <- err
		}()
		if _, err := pw.Write(data[:len(data)/2]); err != nil {
			t.Fatal(err)
		}
		// Half the object is with the store: nobody may see it yet.
		if key == "replaced" {
			wantContent(t, s, key, previous)
		} else {
			wantAbsent(t, s, key)
			if keys := listKeys(t, s, "fresh"); len(keys) != 0 {
				t.Fatalf("List(fresh) during a Put = %q, want nothing", keys)
			}
		}
		if _, err := pw.Write(data[len(data)/2:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if err := <-done; err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		wantContent(t, s, key, data)
	}
}

func testGetRange(t *testing.T, s radmark.BlobStore) {
	const size = 10000
	data := randomBytes(11, size)
	mustPut(t, s, "ranged", data)
	valid := []struct{ off, n int64 }{
		{0, 10}, {0, size}, {100, 500}, {size - 10, 10}, {size - 1, 1},
		{0, 0}, {5000, 0}, {size, 0},
	}
	for _, tc := range valid {
		rc, err := s.GetRange(t.Context(), "ranged", tc.off, tc.n)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", tc.off, tc.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("GetRange(%d, %d): read: %v", tc.off, tc.n, err)
		}
		if want := data[tc.off : tc.off+tc.n]; !bytes.Equal(got, want) {
			t.Fatalf("GetRange(%d, %d) = %d bytes, want %d bytes equal to the object's", tc.off, tc.n, len(got), len(want))
		}
	}
	invalid := []struct{ off, n int64 }{
		{-1, 1}, {0, -1}, {size, 1}, {size - 1, 2}, {size + 1, 0}, {0, size + 1},
		{1<<63 - 1, 1}, {1, 1<<63 - 1},
	}
	for _, tc := range invalid {
		rc, err := s.GetRange(t.Context(), "ranged", tc.off, tc.n)
		if err == nil {
			rc.Close()
		}
		wantCode(t, fmt.Sprintf("GetRange(%d, %d) of %d bytes", tc.off, tc.n, size), err, radmark.EINVALID)
	}
	rc, err := s.GetRange(t.Context(), "missing", 0, 0)
	if err == nil {
		rc.Close()
	}
	wantCode(t, "GetRange of a missing key", err, radmark.ENOTFOUND)

	// An empty object has exactly one valid range.
	mustPut(t, s, "empty", nil)
	rc, err = s.GetRange(t.Context(), "empty", 0, 0)
	if err != nil {
		t.Fatalf("GetRange(0, 0) of an empty object: %v", err)
	}
	if b, _ := io.ReadAll(rc); len(b) != 0 {
		t.Fatalf("GetRange(0, 0) = %d bytes", len(b))
	}
	rc.Close()
	_, err = s.GetRange(t.Context(), "empty", 0, 1)
	wantCode(t, "GetRange(0, 1) of an empty object", err, radmark.EINVALID)
}

func testStat(t *testing.T, s radmark.BlobStore) {
	_, err := s.Stat(t.Context(), "nothing/here")
	wantCode(t, "Stat of a missing key", err, radmark.ENOTFOUND)
	data := randomBytes(12, 4321)
	put := mustPut(t, s, "stat/me", data)
	got, err := s.Stat(t.Context(), "stat/me")
	if err != nil {
		t.Fatal(err)
	}
	wantInfo(t, "Stat", got, "stat/me", data, false)
	if d := got.ModTime.Sub(put.ModTime); d > time.Minute || d < -time.Minute {
		t.Errorf("Stat ModTime %v is far from Put's %v", got.ModTime, put.ModTime)
	}
	// A key that is only a prefix of an object is not an object.
	_, err = s.Stat(t.Context(), "stat")
	wantCode(t, "Stat of a key prefix", err, radmark.ENOTFOUND)
}

func testDelete(t *testing.T, s radmark.BlobStore) {
	ctx := t.Context()
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	a, b := randomBytes(13, 100), randomBytes(14, 200)
	mustPut(t, s, "dir/sub/a", a)
	mustPut(t, s, "dir/sub/b", b)
	mustPut(t, s, "dir/other", b)
	if err := s.Delete(ctx, "dir/sub/a"); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, "dir/sub/a")
	rc, err := s.GetRange(ctx, "dir/sub/a", 0, 0)
	if err == nil {
		rc.Close()
	}
	wantCode(t, "GetRange after Delete", err, radmark.ENOTFOUND)
	wantContent(t, s, "dir/sub/b", b)
	if err := s.Delete(ctx, "dir/sub/a"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	// Deleting a prefix that is not an object deletes nothing.
	for _, k := range []string{"dir", "dir/sub", "di"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q), a prefix of objects: %v", k, err)
		}
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"dir/other", "dir/sub/b"}) {
		t.Fatalf("List after deletes = %q", keys)
	}
	if err := s.Delete(ctx, "dir/sub/b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "dir/other"); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("List after deleting everything = %q", keys)
	}
	// The emptied folder must not get in the way of new objects.
	mustPut(t, s, "dir/sub/a", a)
	wantContent(t, s, "dir/sub/a", a)
}

func testList(t *testing.T, s radmark.BlobStore) {
	// '-' and '.' sort before '/', '_' after: a store that walks folders in
	// name order without care gets these wrong.
	keys := []string{"a-c", "a.d", "a/b", "a/c/d", "a/c/e", "a/c-f", "a0", "a_e", "ab", "b/x/y/z", "B"}
	sizes := map[string]int{}
	for i := range keys {
		k := keys[(i*7)%len(keys)] // a scrambled order (7 and 11 are coprime)
		sizes[k] = 10 + i
		mustPut(t, s, k, randomBytes(uint64(i), 10+i))
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)

	var infos []radmark.BlobInfo
	if err := s.List(t.Context(), "", func(info radmark.BlobInfo) error {
		infos = append(infos, info)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range infos {
		got = append(got, info.Key)
		if info.Size != int64(sizes[info.Key]) {
			t.Errorf("List: %q has Size %d, want %d", info.Key, info.Size, sizes[info.Key])
		}
		if info.ModTime.IsZero() {
			t.Errorf("List: %q has no ModTime", info.Key)
		}
	}
	if !slices.Equal(got, sorted) {
		t.Fatalf("List(\"\") =\n%q\nwant\n%q", got, sorted)
	}

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"a", []string{"a-c", "a.d", "a/b", "a/c-f", "a/c/d", "a/c/e", "a0", "a_e", "ab"}},
		{"a/", []string{"a/b", "a/c-f", "a/c/d", "a/c/e"}},
		{"a/c", []string{"a/c-f", "a/c/d", "a/c/e"}},
		{"a/c/", []string{"a/c/d", "a/c/e"}},
		{"a/c/d", []string{"a/c/d"}},
		{"a/b", []string{"a/b"}},
		{"a/b/", nil},
		{"b", []string{"b/x/y/z"}},
		{"b/x/y/z", []string{"b/x/y/z"}},
		{"b/x/y/z/", nil},
		{"B", []string{"B"}},
		{"c", nil},
		{"zzz", nil},
		{"../", nil},
		{"/a", nil},
	} {
		if got := listKeys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}

	// fn's error stops the walk and comes back unchanged.
	errStop := errors.New("stop here")
	var calls int
	err := s.List(t.Context(), "", func(radmark.BlobInfo) error {
		calls++
		if calls == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 3 {
		t.Fatalf("List stopping at the 3rd object: err %v after %d calls, want %v after 3", err, calls, errStop)
	}
}

// InvalidKeys are keys every driver must reject with EINVALID.
var InvalidKeys = []string{
	"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b", "a/../b",
	"../a", "a/..", "../../etc/passwd", ".hidden", "a/.tmp/b", `a\b`, `..\a`,
	"a\x00b", "a b", "a:b", "a*b", "a+b", "a?b", "a#b", "a%2Fb", "caf\u00e9",
	"\xff", "a\nb", strings.Repeat("s", 256), strings.Repeat("abcdefg/", 128) + "h",
}

// ValidKeys are keys every driver must store; the longest are at the limits
// (a 255-byte segment, a 1024-byte key).
var ValidKeys = []string{
	"a", "A", "A/b/C", "x-y_z.0", "a.", "a..b", "-", "_",
	"1.2.840.10008.5.1.4.1.1.2/1.2.826.0.1.3680043.8.498.1.dcm",
	"instances/ab/ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12",
	strings.Repeat("s", 255),
	strings.Repeat("k", 255) + "/" + strings.Repeat("k", 255) + "/" + strings.Repeat("k", 255) + "/" + strings.Repeat("k", 254) + "/z",
}

func testKeys(t *testing.T, s radmark.BlobStore) {
	ctx := t.Context()
	mustPut(t, s, "present/object", []byte("present"))
	for _, key := range InvalidKeys {
		// The message must name the key so a user can find the culprit.
		named := keyNamePrefix(key)
		check := func(op string, err error) {
			t.Helper()
			wantCode(t, fmt.Sprintf("%s(%.40q)", op, key), err, radmark.EINVALID)
			if msg := radmark.ErrorMessage(err); !strings.Contains(msg, named) {
				t.Errorf("%s(%.40q): message %q does not name the key", op, key, msg)
			}
		}
		_, err := s.Put(ctx, key, strings.NewReader("x"), 1)
		check("Put", err)
		rc, _, err := s.Get(ctx, key)
		if err == nil {
			rc.Close()
		}
		check("Get", err)
		rc, err = s.GetRange(ctx, key, 0, 0)
		if err == nil {
			rc.Close()
		}
		check("GetRange", err)
		_, err = s.Stat(ctx, key)
		check("Stat", err)
		check("Delete", s.Delete(ctx, key))
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"present/object"}) {
		t.Fatalf("after invalid keys, List = %q, want just present/object", keys)
	}
	for i, key := range ValidKeys {
		if len(key) > 1024 {
			t.Fatalf("test key %d is %d bytes", i, len(key))
		}
		data := randomBytes(uint64(100+i), i+1)
		mustPut(t, s, key, data)
		wantContent(t, s, key, data)
		if keys := listKeys(t, s, key); !slices.Contains(keys, key) {
			t.Errorf("List(%.40q) = %.80q, want it included", key, keys)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%.40q): %v", key, err)
		}
		wantAbsent(t, s, key)
	}
}

// version is the content writer w puts in round i: sizes vary so a torn
// read shows up as a wrong length or digest.
func version(w, i int) []byte {
	return randomBytes(uint64(1000*w+i), 1+(w*7919+i*104729)%(256<<10))
}

func testConcurrentSameKey(t *testing.T, s radmark.BlobStore) {
	const writers, rounds, readers = 4, 8, 4
	valid := map[string]bool{}
	var versions [][]byte
	for w := range writers {
		for i := range rounds {
			valid[sum(version(w, i))] = true
			versions = append(versions, version(w, i))
		}
	}
	// isPrefix reports whether b starts some version: what a ranged read
	// sized by an earlier Stat may see when the object is replaced by a
	// longer one in between.
	isPrefix := func(b []byte) bool {
		return slices.ContainsFunc(versions, func(v []byte) bool { return bytes.HasPrefix(v, b) })
	}
	mustPut(t, s, "hot/key", version(0, 0))
	ctx := t.Context()
	var wg, writing sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		writing.Go(func() {
			for i := range rounds {
				data := version(w, i)
				size := int64(len(data))
				if i%2 == 1 {
					size = -1
				}
				info, err := s.Put(ctx, "hot/key", bytes.NewReader(data), size)
				if err != nil {
					t.Errorf("writer %d round %d: %v", w, i, err)
					return
				}
				if info.SHA256 != sum(data) {
					t.Errorf("writer %d round %d: SHA256 %s, want %s", w, i, info.SHA256, sum(data))
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n == 0 {
						t.Errorf("reader %d never ran", r)
					}
					return
				default:
				}
				var got []byte
				var err error
				if n%3 == 2 {
					// A ranged read of a whole object must be whole too.
					var info radmark.BlobInfo
					if info, err = s.Stat(ctx, "hot/key"); err == nil {
						var rc io.ReadCloser
						if rc, err = s.GetRange(ctx, "hot/key", 0, info.Size); err == nil {
							got, err = io.ReadAll(rc)
							rc.Close()
							if err == nil && !valid[sum(got)] && !isPrefix(got) {
								t.Errorf("reader %d: ranged read of %d bytes that are no version written (a torn object)", r, len(got))
								return
							}
						} else if radmark.ErrorCode(err) == radmark.EINVALID {
							err = nil // replaced by a shorter version in between
						}
					}
				} else {
					var rc io.ReadCloser
					var info radmark.BlobInfo
					if rc, info, err = s.Get(ctx, "hot/key"); err == nil {
						got, err = io.ReadAll(rc)
						rc.Close()
						if err == nil && info.Size != int64(len(got)) {
							t.Errorf("reader %d: Get info Size %d, read %d bytes", r, info.Size, len(got))
						}
						if err == nil && info.SHA256 != "" && info.SHA256 != sum(got) {
							t.Errorf("reader %d: Get info SHA256 does not match the bytes read", r)
						}
						if err == nil && !valid[sum(got)] {
							t.Errorf("reader %d: read %d bytes that are no version written (a torn object)", r, len(got))
							return
						}
					}
				}
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
			}
		})
	}
	writing.Wait()
	close(stop)
	wg.Wait()
	if !valid[sum(mustGet(t, s, "hot/key"))] {
		t.Fatal("final object is no version written")
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"hot/key"}) {
		t.Fatalf("List after concurrent puts = %q", keys)
	}
}

// testConcurrentPutDeleteSameFolder has writers put and delete their own
// keys in one folder, so that one goroutine's Delete empties (and a file
// system driver removes) the folder while another's Put is filling it.
func testConcurrentPutDeleteSameFolder(t *testing.T, s radmark.BlobStore) {
	const goroutines, rounds = 8, 25
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			key := fmt.Sprintf("shared/deep/folder/g%d", g)
			for i := range rounds {
				data := randomBytes(uint64(1000*g+i), 100+i)
				if _, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Errorf("Put(%q) round %d: %v", key, i, err)
					return
				}
				rc, _, err := s.Get(ctx, key)
				if err != nil {
					t.Errorf("Get(%q) round %d right after Put: %v", key, i, err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("Get(%q) round %d: %d bytes, %v; want the bytes just put", key, i, len(got), err)
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					t.Errorf("Delete(%q) round %d: %v", key, i, err)
					return
				}
				if _, err := s.Stat(ctx, key); radmark.ErrorCode(err) != radmark.ENOTFOUND {
					t.Errorf("Stat(%q) after Delete: %v, want ENOTFOUND", key, err)
					return
				}
			}
			// Leave one object per goroutine behind.
			if _, err := s.Put(ctx, key, strings.NewReader(key), int64(len(key))); err != nil {
				t.Errorf("final Put(%q): %v", key, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	keys := listKeys(t, s, "shared/")
	if len(keys) != goroutines {
		t.Fatalf("List(shared/) = %q, want %d keys", keys, goroutines)
	}
	for _, k := range keys {
		wantContent(t, s, k, []byte(k))
	}
}

// testConcurrentPutDeleteSameKey races puts and deletes of one key: none
// may fail, and what remains is nothing or one complete version.
func testConcurrentPutDeleteSameKey(t *testing.T, s radmark.BlobStore) {
	const putters, deleters, rounds = 4, 2, 20
	ctx := t.Context()
	valid := map[string]bool{}
	for w := range putters {
		for i := range rounds {
			valid[sum(randomBytes(uint64(1000*w+i), 1000+w))] = true
		}
	}
	var wg sync.WaitGroup
	for w := range putters {
		wg.Go(func() {
			for i := range rounds {
				data := randomBytes(uint64(1000*w+i), 1000+w)
				if _, err := s.Put(ctx, "contested/dir/key", bytes.NewReader(data), int64(len(data))); err != nil {
					t.Errorf("Put racing Delete: %v", err)
					return
				}
			}
		})
	}
	for range deleters {
		wg.Go(func() {
			for range rounds {
				if err := s.Delete(ctx, "contested/dir/key"); err != nil {
					t.Errorf("Delete racing Put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	rc, _, err := s.Get(ctx, "contested/dir/key")
	switch {
	case radmark.ErrorCode(err) == radmark.ENOTFOUND:
	case err != nil:
		t.Fatal(err)
	default:
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !valid[sum(got)] {
			t.Fatalf("after the race the key holds %d bytes that are no version written (%v)", len(got), err)
		}
	}
}

func testConcurrentManyKeys(t *testing.T, s radmark.BlobStore) {
	const goroutines, perGoroutine = 8, 16
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				key := fmt.Sprintf("many/%02d/%c/%03d", i%4, 'a'+g, i)
				data := randomBytes(uint64(1000*g+i), 1000)
				if _, err := s.Put(ctx, key, bytes.NewReader(data), -1); err != nil {
					t.Errorf("Put(%q): %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	keys := listKeys(t, s, "many/")
	if len(keys) != goroutines*perGoroutine || !slices.IsSorted(keys) {
		t.Fatalf("List(many/) = %d keys (sorted: %v), want %d sorted", len(keys), slices.IsSorted(keys), goroutines*perGoroutine)
	}
	for g := range goroutines {
		for i := range perGoroutine {
			key := fmt.Sprintf("many/%02d/%c/%03d", i%4, 'a'+g, i)
			wantContent(t, s, key, randomBytes(uint64(1000*g+i), 1000))
		}
	}
}

// patternReader streams size reproducible bytes without holding them: a
// random 64 KiB block repeated, each repetition stamped with its index so
// that dropped, repeated or reordered chunks change the digest.
type patternReader struct {
	block []byte
	pos   int64
	size  int64
}

const patternBlock = 64 << 10

func newPatternReader(size int64) *patternReader {
	return &patternReader{block: randomBytes(42, patternBlock), size: size}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.pos)]
	n := 0
	for n < len(p) {
		off := int((r.pos + int64(n)) % patternBlock)
		c := copy(p[n:], r.block[off:])
		// Stamp the block index over the block's first 8 bytes.
		var stamp [8]byte
		binary.LittleEndian.PutUint64(stamp[:], uint64((r.pos+int64(n))/patternBlock))
		if off < 8 {
			copy(p[n:n+min(c, 8-off)], stamp[off:])
		}
		n += c
	}
	r.pos += int64(n)
	return n, nil
}

func testLargeObject(t *testing.T, s radmark.BlobStore) {
	const size = 64 << 20
	h := sha256.New()
	io.Copy(h, newPatternReader(size))
	want := hex.EncodeToString(h.Sum(nil))

	r := newPatternReader(size)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := s.Put(t.Context(), "large/object", r, size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", size, err)
	}
	if info.Size != size || info.SHA256 != want {
		t.Fatalf("Put = size %d sha256 %s, want %d and %s", info.Size, info.SHA256, size, want)
	}
	// A streaming driver allocates a few buffers; one that collects the
	// object in memory allocates at least its size.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/2 {
		t.Errorf("Put of a %d MiB object allocated %d MiB: it must stream, not buffer", size>>20, alloc>>20)
	}

	rc, ginfo, err := s.Get(t.Context(), "large/object")
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != want {
		t.Fatalf("Get read %d bytes (%v), digest mismatch or short", n, err)
	}
	if ginfo.Size != size {
		t.Fatalf("Get info Size = %d", ginfo.Size)
	}

	// A range straddling a block boundary near the end.
	const off, length = size - patternBlock - 100, 1000
	expect := make([]byte, length)
	pr := newPatternReader(off + length)
	pr.pos = off
	io.ReadFull(pr, expect)
	rc, err = s.GetRange(t.Context(), "large/object", off, length)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, expect) {
		t.Fatalf("GetRange(%d, %d) does not match the object (%v)", off, length, err)
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
