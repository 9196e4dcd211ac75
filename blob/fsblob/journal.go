package fsblob

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
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

// The journal. Without it a Put is durable only after three writes in a
// row — the file's fsync, the folder's fsync after the rename (needed on
// file systems without a metadata journal, such as ext4 without one), and
// the temp file's creation, which allocates an inode — and an instance
// received one per request waits for all three before its index row can
// even start committing. With the journal a Put of a small object appends
// the object to a preallocated, already-written log file and makes it
// durable with one fdatasync, which writes the data and nothing else
// (no size change, no new extents, no inode), shared by all the Puts that
// arrive meanwhile. The object is readable at once, from the log; a
// background mover then writes it into the folder tree as a plain Put
// would, without syncing each file, and a checkpoint makes the moved
// files durable with one syncfs and records how far the log is done, so
// its space can be reused. Open replays what a crash left past the
// checkpoint.
//
// The mover waits for a pause: while uploads keep arriving, objects stay
// in the log (read from there) until a quarter of the segments are left
// free, so a burst — a series sent by a modality, say — pays for one
// write per object while it arrives, and the copy into the tree, with
// its inode and fresh page-cache pages, costs CPU and disk bandwidth
// only once the burst is over. Under a load that never pauses the low
// free-segment mark starts the mover. It then writes around the page
// cache (O_DIRECT, see moverDirect) and checkpoints after each segment's
// objects, so that segments come free one at a time while the uploads
// go on.
//
// Layout, under ROOT/.journal (a name no key can have):
//
//	lock        flock'ed by the one process that owns the journal
//	checkpoint  two 4 KiB slots, written alternately: the lowest sequence
//	            number not known to be in the tree, with a CRC
//	seg-N       preallocated segments holding records
//
// A record is a header (magic, header CRC, sequence number, data length,
// time, key length), the key, the data and a trailer (SHA-256 of the data,
// CRC-32C of key, data and digest). An owner that computes the digest
// while the append's fdatasync runs (PutRecordSyncing) leaves the
// trailer's digest zero, "not recorded": the CRC still guards the record,
// and a replay hashes the data it reads for the CRC anyway. The header is written while the space
// is reserved, under the journal's lock, so a header that a later record's
// fdatasync made durable is never preceded by one that is not: replay
// reads each segment from its start while headers are valid, skips
// records whose trailer does not match (abandoned or torn), and applies
// the valid ones past the checkpoint in sequence order. A segment is
// reused only after a checkpoint above all its records is durable, so the
// stale records it still holds are all below the checkpoint.
//
// The journal belongs to one process (the lock). A process that finds it
// taken writes objects the plain way; objects another process has in its
// journal are invisible to it until moved, which is why radmark turns the
// journal on only where one server process owns the data folder.

const (
	journalDirName = ".journal"

	// defaultSegmentSize holds about 120 CT slices of 512 KiB.
	defaultSegmentSize = 64 << 20
	// defaultSegments bounds the journal's disk use (512 MiB, allocated
	// at open); when every segment is waiting for the mover, Puts go the
	// plain way until one frees. Six of them hold a 600-slice CT series
	// before the mover must start (see moveDue).
	defaultSegments = 8
	// maxStagedMemory bounds the bytes of uploads held in memory while
	// they arrive (see Staged); more go to temp files.
	maxStagedMemory = 256 << 20

	recordMagic      = 0x524d4a31 // "RMJ1"
	recordHeaderSize = 40
	// maxMeta bounds a record's meta (an index record of an instance).
	maxMeta         = 1 << 20
	recordTrailer   = sha256.Size + 4
	checkpointSlot  = 4096
	checkpointMagic = 0x524d4a43 // "RMJC"

	// checkpointEvery is how long moved objects may wait for the syncfs
	// that lets their log space go, when nothing else forces it;
	// checkpointIdle is how long uploads must have paused for one.
	checkpointEvery = 30 * time.Second
	checkpointIdle  = 300 * time.Millisecond

	// moveIdle is how long uploads must have paused before the mover
	// starts on its own; moveMaxAge is how long an object may wait in the
	// log for one (a slow, steady trickle of uploads never pauses).
	moveIdle   = 100 * time.Millisecond
	moveMaxAge = 10 * time.Second
	// maxQueuedMemory bounds the bytes of staged uploads kept in memory
	// for the mover after they are in the log; beyond it the mover reads
	// them back from the log.
	maxQueuedMemory = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure OpenWith.
type Options struct {
	// Journal acknowledges small objects after one durable append to a
	// log, moving them into the folder tree in the background (see the
	// comment above). Only one process may journal in a root; others
	// opening it with Journal set write the plain way.
	Journal bool
	// JournalSegmentSize and JournalSegments size the log (defaults 64
	// MiB and 4). Objects larger than half a segment go the plain way.
	JournalSegmentSize int64
	JournalSegments    int
}

// errJournalFull says every segment is in use: the caller writes the plain
// way.
var errJournalFull = errors.New("fsblob: journal full")

type journal struct {
	s       *Store
	dir     string
	lock    *os.File
	cpFile  *os.File
	segSize int64
	maxSegs int

	mu       sync.Mutex
	segs     []*segment
	cur      *segment
	free     []*segment
	nextSeq  uint64
	cpSeq    uint64 // durable checkpoint: every record below is in the tree
	cpSlot   int
	inflight map[uint64]*record // reserved, not yet published or abandoned
	pending  map[string]*record // published, not yet moved: read from the log
	dirs     map[string]int     // folders above pending keys
	live     map[string]uint64  // keys with published records not checkpointed
	queue    []*record          // published records to move, in order
	// unindexed are published records with meta whose owner has not yet
	// said its commit is over: the checkpoint stays below them.
	unindexed map[uint64]*record
	// barrier makes the owner's commits durable (see SetIndexBarrier);
	// metaPending says records with meta are below the next checkpoint,
	// which then needs the barrier.
	barrier     func(context.Context) error
	metaPending bool
	recovered   [][]byte // metas replayed at open, for RecoveredMeta
	moved       bool     // records moved since the last checkpoint
	lastCP      time.Time
	lastAppend  time.Time
	broken      error // an I/O error made the log unusable
	closed      bool

	stagedMem int64 // bytes held by in-memory Staged objects (under mu)
	queuedMem int64 // of which held by published records for the mover
	// moverArmed: the mover has a timer set for the queue's next due
	// time, so a publish need not wake it.
	moverArmed bool
	// directBuf is the mover's aligned buffer for O_DIRECT writes, and
	// noDirect says the file system refused them (both under work).
	directBuf []byte
	noDirect  bool
	// rotated: a segment has filled up since open, so the journal is in
	// sustained use and fresh segments are worth prewriting.
	rotated bool
	// settling counts callers waiting for work to settle keys (Delete).
	settling atomic.Int32

	// work serialises moving and checkpointing: the mover and callers
	// that need a key's records in the tree (Delete) take turns.
	work sync.Mutex
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type segment struct {
	idx  int
	f    *os.File
	used int64 // append offset
	// written is how far from its start the segment's blocks are known
	// to have been written, as the file system says (FIEMAP) at open and
	// appends and prewrites extend. An allocated segment's blocks are
	// unwritten extents, and the first fdatasync into each also commits
	// the file system's metadata journal (the extent turning written), a
	// third slower here than one into written blocks; the mover prewrites
	// them with zeros while uploads pause (see prewriteWhileIdle).
	written int64
	maxSeq  uint64 // highest sequence number written since (re)use
	writers int    // records reserved here and not finished
	readers int    // open readers of pending records here
	gate    syncGate
}

type record struct {
	seq     uint64
	key     string
	seg     *segment
	off     int64 // of the header
	size    int64
	sum     string
	modTime time.Time
	// written: the record is durable and no longer counted in its
	// segment's writers.
	written bool
	// mem, if set, holds the object's bytes in memory (a staged upload's
	// chunks) until it is moved, so the mover need not read them back;
	// held is the memory counted in stagedMem for them.
	mem  [][]byte
	held int64
	// meta is the owner's record of the object (PutRecordSyncing), replayed to it
	// after a crash; such a record stays unindexed until the owner says
	// its own commit is done.
	meta []byte
}

func (r *record) dataOff() int64 {
	return r.off + recordHeaderSize + int64(len(r.key)) + int64(len(r.meta))
}

// syncGate shares fdatasyncs: a caller needs one that starts after its
// write, and every caller waiting when a sync starts is covered by it.
type syncGate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	running  bool
	started  uint64
	finished uint64
	err      error
}

func (g *syncGate) sync(f *os.File) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	need := g.started + 1
	for g.finished < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := fdatasync(f)
		g.mu.Lock()
		g.running = false
		g.finished = gen
		g.err = err
		g.cond.Broadcast()
		if err != nil {
			return err
		}
	}
	return g.err
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, location string, opts Options) (*Store, error) {
	s, err := Open(ctx, location)
	if err != nil {
		return nil, err
	}
	if !opts.Journal || !journalSupported {
		return s, nil
	}
	j, err := openJournal(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	s.j = j
	return s, nil
}

// Journaled reports whether this Store acknowledges objects through its
// journal.
func (s *Store) Journaled() bool { return s.j != nil }

// Close moves every journaled object into the folder tree, makes it
// durable and releases the journal. A Store without a journal holds
// nothing, and Close does nothing. The Store must not be used after.
func (s *Store) Close() error {
	if s.j == nil {
		return nil
	}
	return s.j.close()
}

func openJournal(ctx context.Context, s *Store, opts Options) (*journal, error) {
	j := &journal{
		s: s, dir: filepath.Join(s.root, journalDirName),
		segSize: opts.JournalSegmentSize, maxSegs: opts.JournalSegments,
		inflight: map[uint64]*record{}, pending: map[string]*record{}, unindexed: map[uint64]*record{},
		dirs: map[string]int{}, live: map[string]uint64{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if j.segSize <= 0 {
		j.segSize = defaultSegmentSize
	}
	if j.maxSegs <= 0 {
		j.maxSegs = defaultSegments
	}
	if err := os.Mkdir(j.dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("fsblob: journal: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(j.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fsblob: journal: %w", err)
	}
	if ok, err := tryLock(lock); err != nil || !ok {
		lock.Close()
		if err != nil {
			return nil, fmt.Errorf("fsblob: journal: lock: %w", err)
		}
		return nil, nil // another process journals here; write the plain way
	}
	j.lock = lock
	if err := j.recover(ctx); err != nil {
		j.release()
		return nil, err
	}
	j.lastCP = time.Now()
	go j.run()
	return j, nil
}

func (j *journal) release() {
	for _, sg := range j.segs {
		sg.f.Close()
	}
	if j.cpFile != nil {
		j.cpFile.Close()
	}
	j.lock.Close() // drops the flock
}

// recover reads the checkpoint, replays the records past it into the
// folder tree, makes them durable and starts a new checkpoint above them.
func (j *journal) recover(ctx context.Context) error {
	fail := func(err error) error { return fmt.Errorf("fsblob: journal %s: recover: %w", j.dir, err) }
	cp, err := os.OpenFile(filepath.Join(j.dir, "checkpoint"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	j.cpFile = cp
	best, bestSlot := readCheckpoint(cp)
	j.cpSeq, j.cpSlot = best, bestSlot

	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return fail(err)
	}
	var found []*record
	maxSeq := best
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".new") {
			// A segment being made when the process stopped: never used.
			os.Remove(filepath.Join(j.dir, e.Name()))
			continue
		}
		n, ok := strings.CutPrefix(e.Name(), "seg-")
		if !ok {
			continue
		}
		idx, err := strconv.Atoi(n)
		if err != nil || idx < 0 || strconv.Itoa(idx) != n {
			continue
		}
		f, err := os.OpenFile(filepath.Join(j.dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return fail(err)
		}
		sg := &segment{idx: idx, f: f, written: firstUnwritten(f, j.segSize)}
		j.segs = append(j.segs, sg)
		recs, top, err := scanSegment(f, best)
		if err != nil {
			return fail(err)
		}
		maxSeq = max(maxSeq, top)
		found = append(found, recs...)
	}
	slices.SortFunc(j.segs, func(a, b *segment) int { return a.idx - b.idx })
	slices.SortFunc(found, func(a, b *record) int { return cmp.Compare(a.seq, b.seq) })
	held := map[*os.File]uint64{} // segments holding replayed metas
	for _, r := range found {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := j.moveOne(r, false); err != nil {
			return fail(fmt.Errorf("replay %s: %w", blob.QuoteKey(r.key), err))
		}
		if r.meta != nil {
			j.recovered = append(j.recovered, r.meta)
			held[r.seg.f] = max(held[r.seg.f], r.seq)
		}
	}
	j.nextSeq = maxSeq + 1
	if len(j.recovered) > 0 {
		// The owner has to apply the metas before the checkpoint may pass
		// them: their segments are not reused until then.
		if err := syncAll(j.s.root); err != nil {
			return fail(err)
		}
		j.metaPending, j.moved = true, true
		for _, sg := range j.segs {
			if top, ok := held[sg.f]; ok {
				sg.maxSeq = top
			}
		}
	} else if len(found) > 0 || bestSlot < 0 {
		if err := syncAll(j.s.root); err != nil {
			return fail(err)
		}
		if err := j.writeCheckpoint(j.nextSeq); err != nil {
			return fail(err)
		}
	}
	for _, sg := range j.segs {
		if sg.maxSeq > 0 {
			continue // holds replayed metas
		}
		if fi, err := sg.f.Stat(); err == nil && fi.Size() == j.segSize {
			j.free = append(j.free, sg)
		}
		// A segment of another size was made with other options: it is
		// not reused (its records were replayed above).
	}
	// All segments are made now (allocating is quick): a segment made
	// while uploads run would compete with their syncs.
	next := 0
	for _, sg := range j.segs {
		next = max(next, sg.idx+1)
	}
	for len(j.free) < j.maxSegs {
		sg, err := j.makeSegment(next)
		if err != nil {
			return fail(err)
		}
		next++
		j.segs = append(j.segs, sg)
		j.free = append(j.free, sg)
	}
	return nil
}

// readCheckpoint returns the newer valid checkpoint slot's sequence
// number, and the slot (-1 if neither is valid).
func readCheckpoint(cp *os.File) (uint64, int) {
	var best uint64
	bestSlot := -1
	for slot := range 2 {
		buf := make([]byte, 16)
		if _, err := cp.ReadAt(buf, int64(slot*checkpointSlot)); err != nil {
			continue
		}
		if binary.LittleEndian.Uint32(buf[0:]) != checkpointMagic ||
			binary.LittleEndian.Uint32(buf[12:]) != crc32.Checksum(buf[:12], castagnoli) {
			continue
		}
		if seq := binary.LittleEndian.Uint64(buf[4:]); bestSlot < 0 || seq > best {
			best, bestSlot = seq, slot
		}
	}
	return best, bestSlot
}

// Replayable lists the keys whose latest bytes the journal of the blob
// folder root still holds past its checkpoint: what a start would write
// into the folder tree again, because a crash may have lost their files.
// It reads the journal without taking it; run it on a stopped store.
func Replayable(root string) ([]string, error) {
	dir := filepath.Join(root, journalDirName)
	cp, err := os.Open(filepath.Join(dir, "checkpoint"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fsblob: journal %s: %w", dir, err)
	}
	defer cp.Close()
	from, _ := readCheckpoint(cp)
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var keys []string
	for _, name := range segs {
		if strings.HasSuffix(name, ".new") {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("fsblob: journal %s: %w", dir, err)
		}
		recs, _, err := scanSegment(f, from)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("fsblob: journal %s: %w", dir, err)
		}
		for _, r := range recs {
			if !seen[r.key] {
				seen[r.key] = true
				keys = append(keys, r.key)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// scanSegment returns the valid records at or above from, and the highest
// sequence number of any valid header.
func scanSegment(f *os.File, from uint64) ([]*record, uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var out []*record
	var top uint64
	hdr := make([]byte, recordHeaderSize)
	for off := int64(0); off+recordHeaderSize <= size; {
		if _, err := f.ReadAt(hdr, off); err != nil {
			return nil, 0, err
		}
		if binary.LittleEndian.Uint32(hdr[0:]) != recordMagic ||
			binary.LittleEndian.Uint32(hdr[4:]) != crc32.Checksum(hdr[8:], castagnoli) {
			break
		}
		seq := binary.LittleEndian.Uint64(hdr[8:])
		dataLen := int64(binary.LittleEndian.Uint64(hdr[16:]))
		mod := int64(binary.LittleEndian.Uint64(hdr[24:]))
		keyLen := int64(binary.LittleEndian.Uint32(hdr[32:]))
		metaLen := int64(binary.LittleEndian.Uint32(hdr[36:]))
		if dataLen < 0 || keyLen <= 0 || keyLen > 4096 || metaLen > maxMeta || off+recordHeaderSize+keyLen+metaLen+dataLen+recordTrailer > size {
			break
		}
		top = max(top, seq)
		r := &record{seq: seq, off: off, size: dataLen, modTime: time.Unix(0, mod)}
		next := off + recordHeaderSize + keyLen + metaLen + dataLen + recordTrailer
		if seq >= from {
			key := make([]byte, keyLen)
			if _, err := f.ReadAt(key, off+recordHeaderSize); err != nil {
				return nil, 0, err
			}
			r.key = string(key)
			if metaLen > 0 {
				r.meta = make([]byte, metaLen)
				if _, err := f.ReadAt(r.meta, off+recordHeaderSize+keyLen); err != nil {
					return nil, 0, err
				}
			}
			sum, ok, err := checkTrailer(f, r)
			if err != nil {
				return nil, 0, err
			}
			if ok && blob.CheckKey(r.key) == nil {
				r.sum = sum
				r.seg = &segment{f: f}
				out = append(out, r)
			}
		}
		off = next
	}
	return out, top, nil
}

// checkTrailer reads r's key and data back and checks them against its
// trailer, returning the data's digest: the trailer's, or, where the
// owner gave it only at publish (digestLater), the one computed here.
func checkTrailer(f *os.File, r *record) (string, bool, error) {
	tr := make([]byte, recordTrailer)
	if _, err := f.ReadAt(tr, r.dataOff()+r.size); err != nil {
		return "", false, err
	}
	recorded := tr[:sha256.Size]
	c := crc32.New(castagnoli)
	if _, err := io.Copy(c, io.NewSectionReader(f, r.off+recordHeaderSize, r.dataOff()-r.off-recordHeaderSize)); err != nil {
		return "", false, err
	}
	var w io.Writer = c
	var h hash.Hash
	if !slices.ContainsFunc(recorded, func(b byte) bool { return b != 0 }) {
		h = sha256.New()
		w = io.MultiWriter(c, h)
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, r.dataOff(), r.size)); err != nil {
		return "", false, err
	}
	c.Write(recorded)
	if c.Sum32() != binary.LittleEndian.Uint32(tr[sha256.Size:]) {
		return "", false, nil
	}
	if h != nil {
		return hex.EncodeToString(h.Sum(nil)), true, nil
	}
	return hex.EncodeToString(recorded), true, nil
}

func (j *journal) writeCheckpoint(seq uint64) error {
	slot := (j.cpSlot + 1) % 2
	if j.cpSlot < 0 {
		slot = 0
	}
	buf := make([]byte, 16)
	binary.LittleEndian.PutUint32(buf[0:], checkpointMagic)
	binary.LittleEndian.PutUint64(buf[4:], seq)
	binary.LittleEndian.PutUint32(buf[12:], crc32.Checksum(buf[:12], castagnoli))
	if _, err := j.cpFile.WriteAt(buf, int64(slot*checkpointSlot)); err != nil {
		return err
	}
	if err := j.cpFile.Sync(); err != nil {
		return err
	}
	j.cpSlot = slot
	return nil
}

// maxObject is the largest object the journal takes.
func (j *journal) maxObject() int64 { return j.segSize / 2 }

// put stores an object of known size through the journal. ok is false
// when the journal cannot take it (too large, full, broken, closed): the
// caller then writes it the plain way.
func (j *journal) put(ctx context.Context, key string, r io.Reader, size int64, knownSum string) (radmark.BlobInfo, bool, error) {
	if size < 0 || size > j.maxObject() {
		return radmark.BlobInfo{}, false, nil
	}
	rec, err := j.append(ctx, key, nil, r, size, knownSum)
	if errors.Is(err, errJournalFull) {
		return radmark.BlobInfo{}, false, nil
	}
	if err != nil {
		return radmark.BlobInfo{}, true, err
	}
	return j.publish(rec), true, nil
}

// checkKeyFree refuses a key that the folder tree or the pending objects
// make impossible, as the rename would later (see place): the mover must
// never find an acknowledged object unplaceable.
func (j *journal) checkKeyFree(key string) error {
	j.mu.Lock()
	for d := parentKey(key); d != ""; d = parentKey(d) {
		if _, ok := j.pending[d]; ok {
			j.mu.Unlock()
			return &radmark.Error{Code: radmark.ECONFLICT,
				Message: fmt.Sprintf("blob key %s needs %q to be a folder, but it is an object", blob.QuoteKey(key), d)}
		}
	}
	folder := j.dirs[key] > 0
	j.mu.Unlock()
	if folder {
		return &radmark.Error{Code: radmark.ECONFLICT, Message: fmt.Sprintf("blob key %s is the folder of other objects", blob.QuoteKey(key))}
	}
	dst := j.s.path(key)
	for d := filepath.Dir(dst); d != j.s.root && len(d) > len(j.s.root); d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err == nil {
			if !fi.IsDir() {
				return j.s.conflict(key, dst, syscall.ENOTDIR)
			}
			break // folders above an existing folder exist
		}
	}
	if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
		if entries, _ := os.ReadDir(dst); len(entries) > 0 {
			return &radmark.Error{Code: radmark.ECONFLICT, Message: fmt.Sprintf("blob key %s is the folder of other objects", blob.QuoteKey(key))}
		}
	}
	return nil
}

func parentKey(key string) string {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return ""
	}
	return key[:i]
}

// append writes a record of key and r's size bytes and makes it durable;
// the record is reserved (counted in inflight) until publish or abandon.
func (j *journal) append(ctx context.Context, key string, meta []byte, r io.Reader, size int64, knownSum string) (*record, error) {
	rec, err := j.write(ctx, key, meta, r, size, knownSum)
	if err != nil {
		return nil, err
	}
	if err := j.syncRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// write checks the key, then reserves and fills a record: append without
// its fdatasync.
func (j *journal) write(ctx context.Context, key string, meta []byte, r io.Reader, size int64, knownSum string) (*record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := j.checkKeyFree(key); err != nil {
		return nil, err
	}
	rec, err := j.reserve(key, meta, size)
	if err != nil {
		return nil, err
	}
	if err := j.fill(ctx, rec, r, knownSum); err != nil {
		j.abandon(rec)
		return nil, err
	}
	startWriteback(rec.seg.f, rec.off, rec.dataOff()+rec.size+recordTrailer-rec.off)
	return rec, nil
}

// syncRecord makes a written record durable; on failure the record is
// abandoned and the log given up.
func (j *journal) syncRecord(rec *record) error {
	err := j.s.fail("sync", rec.seg.f.Name())
	if err == nil {
		err = rec.seg.gate.sync(rec.seg.f)
	}
	if err != nil {
		// After a failed fdatasync the kernel may have dropped the
		// pages: nothing more is trusted to this log.
		j.abandon(rec)
		j.breakWith(err)
		return err
	}
	j.mu.Lock()
	rec.seg.writers--
	rec.written = true
	j.mu.Unlock()
	return nil
}

// reserve takes space for a record and writes its header.
func (j *journal) reserve(key string, meta []byte, size int64) (*record, error) {
	if len(meta) > maxMeta {
		return nil, errJournalFull
	}
	need := recordHeaderSize + int64(len(key)) + int64(len(meta)) + size + recordTrailer
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil || j.closed {
		return nil, errJournalFull
	}
	if j.cur == nil || j.cur.used+need > j.segSize {
		if len(j.free) == 0 {
			// Every segment waits for the mover or a checkpoint (all are
			// made at open): this object goes the plain way.
			return nil, errJournalFull
		}
		j.rotated = j.rotated || j.cur != nil
		j.cur = j.free[0]
		j.free = j.free[1:]
		j.cur.written = max(j.cur.written, j.cur.used)
		j.cur.used, j.cur.maxSeq = 0, 0
	}
	sg := j.cur
	rec := &record{seq: j.nextSeq, key: key, meta: meta, seg: sg, off: sg.used, size: size, modTime: time.Now()}
	hdr := make([]byte, recordHeaderSize)
	binary.LittleEndian.PutUint32(hdr[0:], recordMagic)
	binary.LittleEndian.PutUint64(hdr[8:], rec.seq)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(size))
	binary.LittleEndian.PutUint64(hdr[24:], uint64(rec.modTime.UnixNano()))
	binary.LittleEndian.PutUint32(hdr[32:], uint32(len(key)))
	binary.LittleEndian.PutUint32(hdr[36:], uint32(len(meta)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(hdr[8:], castagnoli))
	if _, err := sg.f.WriteAt(hdr, rec.off); err != nil {
		j.broken = err
		return nil, err
	}
	j.nextSeq++
	j.lastAppend = rec.modTime
	sg.used += need
	sg.maxSeq = rec.seq
	sg.writers++
	j.inflight[rec.seq] = rec
	return rec, nil
}

// digestLater, as fill's knownSum, leaves the trailer's digest zero: the
// owner gives it when the record is published (SyncingPut.Wait).
const digestLater = "later"

// fill writes the record's key, data and trailer.
func (j *journal) fill(ctx context.Context, rec *record, r io.Reader, knownSum string) error {
	c := crc32.New(castagnoli)
	var h hash.Hash
	if knownSum == "" {
		h = sha256.New()
	}
	w := &segmentWriter{f: rec.seg.f, off: rec.off + recordHeaderSize, c: c, s: j.s}
	if _, err := w.Write([]byte(rec.key)); err != nil {
		return err
	}
	if _, err := w.Write(rec.meta); err != nil {
		return err
	}
	w.h = h
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(w, io.LimitReader(&ctxReader{ctx: ctx, r: r}, rec.size+1), *buf)
	copyBuffers.Put(buf)
	if err != nil {
		return err
	}
	switch {
	case n > rec.size:
		return radmark.Errorf(radmark.EINVALID, "blob %s: size mismatch: declared %d bytes, the body is longer", blob.QuoteKey(rec.key), rec.size)
	case n < rec.size:
		return radmark.Errorf(radmark.EINVALID, "blob %s: size mismatch: declared %d bytes, the body has %d", blob.QuoteKey(rec.key), rec.size, n)
	}
	var sum []byte
	switch {
	case h != nil:
		sum = h.Sum(nil)
	case knownSum == digestLater:
		sum = make([]byte, sha256.Size)
	default:
		var err error
		if sum, err = hex.DecodeString(knownSum); err != nil || len(sum) != sha256.Size {
			return radmark.Errorf(radmark.EINVALID, "blob %s: digest %q is not a hex SHA-256", blob.QuoteKey(rec.key), knownSum)
		}
	}
	c.Write(sum)
	tr := binary.LittleEndian.AppendUint32(slices.Clone(sum), c.Sum32())
	if err := j.s.fail("write", rec.seg.f.Name()); err != nil {
		return err
	}
	if _, err := rec.seg.f.WriteAt(tr, rec.dataOff()+rec.size); err != nil {
		return err
	}
	if knownSum != digestLater {
		rec.sum = hex.EncodeToString(sum)
	}
	return nil
}

// segmentWriter writes at increasing offsets of a segment, keeping the
// record's CRC and, once h is set, the data's digest.
type segmentWriter struct {
	s   *Store
	f   *os.File
	off int64
	c   hash.Hash32
	h   hash.Hash
	n   int64
}

func (w *segmentWriter) Write(p []byte) (int, error) {
	if err := w.s.fail("write", w.f.Name()); err != nil {
		return 0, err
	}
	n, err := w.f.WriteAt(p, w.off)
	w.c.Write(p[:n])
	if w.h != nil {
		w.h.Write(p[:n])
	}
	w.off += int64(n)
	w.n += int64(n)
	return n, err
}

// abandon gives up a reserved record: its space stays garbage until the
// segment is reused, and replay skips it (its trailer does not match, or,
// for a record written but never published, it becomes an object without
// an index entry, as a crash between a plain Put and indexing leaves).
func (j *journal) abandon(rec *record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.inflight[rec.seq]; !ok {
		return
	}
	if rec.written {
		// Spoil the trailer so a replay skips the record rather than
		// making an object nobody committed; best effort (not synced):
		// if the crash comes first, the object is left as a crash
		// between a plain Put and its indexing leaves one.
		_, _ = rec.seg.f.WriteAt(make([]byte, 4), rec.dataOff()+rec.size+sha256.Size)
	}
	delete(j.inflight, rec.seq)
	if !rec.written {
		rec.seg.writers--
	}
}

// publish makes a durable record the object at its key.
func (j *journal) publish(rec *record) radmark.BlobInfo {
	j.mu.Lock()
	delete(j.inflight, rec.seq)
	if old, ok := j.pending[rec.key]; ok {
		_ = old // superseded: the mover writes it, then this one over it
	} else {
		for d := parentKey(rec.key); d != ""; d = parentKey(d) {
			j.dirs[d]++
		}
	}
	j.pending[rec.key] = rec
	j.live[rec.key] = rec.seq
	if rec.meta != nil {
		j.unindexed[rec.seq] = rec
		j.metaPending = true
	}
	if rec.mem != nil {
		if j.queuedMem+rec.held > maxQueuedMemory {
			// The log has the bytes: the mover reads them from there.
			freeChunks(rec.mem)
			rec.mem = nil
			j.stagedMem -= rec.held
			rec.held = 0
		} else {
			j.queuedMem += rec.held
		}
	}
	j.queue = append(j.queue, rec)
	wake := !j.moverArmed || len(j.free) <= j.lowWater()
	j.mu.Unlock()
	if wake {
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	return radmark.BlobInfo{Key: rec.key, Size: rec.size, SHA256: rec.sum, ModTime: rec.modTime}
}

func (j *journal) breakWith(err error) {
	j.mu.Lock()
	if j.broken == nil {
		j.broken = err
	}
	j.mu.Unlock()
}

// makeSegment allocates a segment and makes it durable. The space is
// reserved with fallocate, so an append never grows the file: its
// fdatasync writes the data and, the first time a block is used, the
// extent's change from unwritten to written; once the segment has been
// through one round, appends write data alone.
func (j *journal) makeSegment(idx int) (*segment, error) {
	name := filepath.Join(j.dir, "seg-"+strconv.Itoa(idx))
	tmp := name + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := allocate(f, j.segSize); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{idx: idx, f: f, written: firstUnwritten(f, j.segSize)}, nil
}

const (
	// prewriteChunk is how much of a fresh segment is prewritten (and
	// made durable) between checks for uploads.
	prewriteChunk = 4 << 20
)

// prewriteDue says whether the mover should prewrite a fresh segment now
// (called with mu held): the journal is in sustained use, nothing waits
// to be moved, uploads have paused, and a free segment has unwritten
// blocks.
func (j *journal) prewriteDue(now time.Time) bool {
	return j.prewriteIdle(now) && j.prewritePending()
}

// prewritePending: the journal is in sustained use and a free segment has
// unwritten blocks (called with mu held).
func (j *journal) prewritePending() bool {
	return j.rotated && slices.ContainsFunc(j.free, j.unwritten)
}

// prewriteIdle is prewriteDue but for the work to do; a Delete waiting
// to settle its key also ends the pause.
func (j *journal) prewriteIdle(now time.Time) bool {
	return j.rotated && !j.closed && j.broken == nil && len(j.queue) == 0 && now.Sub(j.lastAppend) >= moveIdle &&
		j.settling.Load() == 0
}

func (j *journal) unwritten(sg *segment) bool { return max(sg.written, sg.used) < j.segSize }

// prewriteWhileIdle writes zeros over the unwritten blocks of free
// segments while prewriteDue holds (called with work held), so appends
// later write into written blocks. A segment being prewritten is out of
// the free list; an upload that arrives meanwhile stops the prewrite
// after the current chunk, and it resumes at the next pause. Zeros are
// what the unwritten blocks read as already, so a crash at any point
// changes nothing a replay sees.
func (j *journal) prewriteWhileIdle() error {
	for {
		j.mu.Lock()
		if !j.prewriteDue(time.Now()) {
			j.mu.Unlock()
			return nil
		}
		i := slices.IndexFunc(j.free, j.unwritten)
		sg := j.free[i]
		j.free = slices.Delete(j.free, i, i+1)
		from := max(sg.written, sg.used)
		j.mu.Unlock()

		upTo, err := j.prewrite(sg, from)
		j.mu.Lock()
		sg.written = max(sg.written, upTo)
		j.free = append(j.free, sg)
		j.mu.Unlock()
		if err != nil || upTo < j.segSize {
			return err
		}
	}
}

// prewrite writes zeros over sg from offset from, a chunk at a time, each
// made durable, until the end or until uploads resume; it returns how far
// it got.
func (j *journal) prewrite(sg *segment, from int64) (int64, error) {
	zeros := make([]byte, prewriteChunk)
	for off := from; off < j.segSize; {
		n := min(int64(len(zeros)), j.segSize-off)
		if err := j.s.fail("write", sg.f.Name()); err != nil {
			return off, err
		}
		if _, err := sg.f.WriteAt(zeros[:n], off); err != nil {
			return off, err
		}
		if err := fdatasync(sg.f); err != nil {
			return off, err
		}
		off += n
		j.mu.Lock()
		idle := j.prewriteIdle(time.Now())
		j.mu.Unlock()
		if !idle {
			return off, nil
		}
	}
	return j.segSize, nil
}

// indexed records that the owner's commit described by rec's meta is
// over.
func (j *journal) indexed(rec *record) {
	j.mu.Lock()
	delete(j.unindexed, rec.seq)
	j.mu.Unlock()
}

// SyncingPut is an object written to the journal with its owner's record
// whose fdatasync is under way (PutRecordSyncing); it is a
// radmark.PendingBlob. The owner overlaps its own work with the disk —
// preparing its index transaction — and calls Wait before committing that
// transaction, or Abandon if it does not commit.
type SyncingPut struct {
	j    *journal
	rec  *record
	sync chan error // the fdatasync's outcome, once
	// digest gives the data's digest at Wait when the append did not
	// record it (PutRecordSyncing).
	digest func() (string, error)

	once sync.Once
	info radmark.BlobInfo
	err  error
}

// PutRecordSyncing is PutWithDigest for an owner that keeps its own record
// of the object (an index row) and commits it without waiting for the
// disk: the journal writes meta, that record, with the object in the same
// append, and after a crash RecoveredMeta gives it back to be applied
// again. The append's fdatasync runs on its own goroutine; the object is
// durable and visible once pending's Wait returns nil, and the owner
// commits its record only then. Once the owner's commit is over (whatever
// its outcome) it calls Indexed: until then, and until the barrier set
// with SetIndexBarrier has run, the record stays replayable. pending is
// nil when the journal did not take the object: it was then stored the
// plain way (info, durable), and the owner commits durably itself.
//
// digest gives the hex SHA-256 of r's bytes, which the owner may still be
// computing: the journal does not need it to make the append durable, and
// asks for it only when Wait publishes the object (or before a plain
// write). The owner thus hashes on another core while the disk works. It
// is trusted, as PutWithDigest's is; an error from it, or a malformed
// digest, fails Wait and the object is never published.
func (s *Store) PutRecordSyncing(ctx context.Context, key string, r io.Reader, size int64, digest func() (string, error), meta []byte) (pending radmark.PendingBlob, info radmark.BlobInfo, err error) {
	if s.j != nil && meta != nil && size >= 0 && size <= s.j.maxObject() {
		if err := blob.CheckKey(key); err != nil {
			return nil, radmark.BlobInfo{}, err
		}
		rec, err := s.j.write(ctx, key, meta, r, size, digestLater)
		if err == nil {
			p := s.j.startSync(rec)
			p.digest = digest
			return p, radmark.BlobInfo{}, nil
		}
		if !errors.Is(err, errJournalFull) {
			return nil, radmark.BlobInfo{}, fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(key), err)
		}
	}
	sum, err := digest()
	if err != nil {
		return nil, radmark.BlobInfo{}, fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(key), err)
	}
	info, err = s.PutWithDigest(ctx, key, r, size, sum)
	return nil, info, err
}

// startSync starts a written record's fdatasync on its own goroutine.
func (j *journal) startSync(rec *record) *SyncingPut {
	p := &SyncingPut{j: j, rec: rec, sync: make(chan error, 1)}
	go func() { p.sync <- j.syncRecord(rec) }()
	return p
}

// takeDigest sets the record's digest from the owner, if the append left
// it to the owner.
func (p *SyncingPut) takeDigest() error {
	if p.rec.sum != "" {
		return nil
	}
	sum, err := p.digest()
	if err != nil {
		return err
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || sum != strings.ToLower(sum) {
		return radmark.Errorf(radmark.EINVALID, "blob %s: digest %q is not a lower-case hex SHA-256", blob.QuoteKey(p.rec.key), sum)
	}
	p.rec.sum = sum
	return nil
}

// Wait waits for the object's fdatasync and publishes it. It may be called
// again (a retried transaction) and gives the same answer.
func (p *SyncingPut) Wait() (radmark.BlobInfo, error) {
	p.once.Do(func() {
		if p.err = <-p.sync; p.err != nil {
			p.dropMem()
			p.err = fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(p.rec.key), p.err)
			return
		}
		if p.err = p.takeDigest(); p.err != nil {
			p.j.abandon(p.rec)
			p.dropMem()
			p.err = fmt.Errorf("fsblob: put %s: %w", blob.QuoteKey(p.rec.key), p.err)
			return
		}
		p.info = p.j.publish(p.rec)
	})
	return p.info, p.err
}

// dropMem frees a staged upload's memory handed to a record never
// published.
func (p *SyncingPut) dropMem() {
	if p.rec.mem != nil {
		freeChunks(p.rec.mem)
		p.rec.mem = nil
		p.j.releaseStaged(p.rec.held)
		p.rec.held = 0
	}
}

// Abandon gives the object up if Wait has not run: its record is never
// published and a replay skips it. After Wait, the object is the owner's
// to delete.
func (p *SyncingPut) Abandon() {
	p.once.Do(func() {
		if err := <-p.sync; err == nil {
			p.j.abandon(p.rec)
		}
		p.dropMem()
		p.err = errors.New("fsblob: put abandoned")
	})
}

// Indexed tells the journal that the owner's commit of the record is over.
func (p *SyncingPut) Indexed() { p.j.indexed(p.rec) }

// RecoveredMeta returns the metas of records that Open replayed, in the
// order they were written; the owner applies them (idempotently) and then
// sets its barrier, after which the journal may pass them.
func (s *Store) RecoveredMeta() [][]byte {
	if s.j == nil {
		return nil
	}
	s.j.mu.Lock()
	defer s.j.mu.Unlock()
	return slices.Clone(s.j.recovered)
}

// SetIndexBarrier gives the journal the function that makes the owner's
// commits durable (for an SQLite index, syncing its files): a checkpoint
// runs it before it lets records with meta go. Without one, such records
// are never checkpointed (the journal fills, and objects go the plain
// way).
func (s *Store) SetIndexBarrier(fn func(context.Context) error) {
	if s.j == nil {
		return
	}
	s.j.mu.Lock()
	s.j.barrier = fn
	s.j.recovered = nil
	s.j.mu.Unlock()
	select {
	case s.j.wake <- struct{}{}:
	default:
	}
}

// holdStaged counts n more bytes of st held in memory, if the journal
// could still take st and the memory bound allows.
func (j *journal) holdStaged(st *Staged, n int64) bool {
	if st.w.n+n > j.maxObject() {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stagedMem+n > maxStagedMemory || j.closed {
		return false
	}
	j.stagedMem += n
	st.held += n
	return true
}

func (j *journal) releaseStaged(n int64) {
	j.mu.Lock()
	j.stagedMem -= n
	j.mu.Unlock()
}

// lookup returns a reader of the pending object at key, if there is one.
func (j *journal) lookup(key string) (*pendingReader, radmark.BlobInfo, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	rec, ok := j.pending[key]
	if !ok {
		return nil, radmark.BlobInfo{}, false
	}
	rec.seg.readers++
	pr := &pendingReader{SectionReader: io.NewSectionReader(rec.seg.f, rec.dataOff(), rec.size), j: j, seg: rec.seg}
	return pr, radmark.BlobInfo{Key: key, Size: rec.size, SHA256: rec.sum, ModTime: rec.modTime}, true
}

// pendingReader reads an object from its segment, which is not reused
// while it is open.
type pendingReader struct {
	*io.SectionReader
	j    *journal
	seg  *segment
	once sync.Once
}

func (p *pendingReader) Close() error {
	p.once.Do(func() {
		p.j.mu.Lock()
		p.seg.readers--
		p.j.mu.Unlock()
	})
	return nil
}

// pendingKeys returns the pending keys starting with prefix, sorted.
func (j *journal) pendingKeys(prefix string) []radmark.BlobInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []radmark.BlobInfo
	for k, r := range j.pending {
		if strings.HasPrefix(k, prefix) {
			out = append(out, radmark.BlobInfo{Key: k, Size: r.size, ModTime: r.modTime})
		}
	}
	slices.SortFunc(out, func(a, b radmark.BlobInfo) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// isLive reports whether key has records that a replay would apply.
func (j *journal) isLive(key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.live[key]
	return ok
}

// settle puts every published record in the tree and checkpoints, so that
// a plain write or delete of a key is not undone by a replay of its older
// records.
func (j *journal) settle() error {
	// A prewrite in progress gives way after its chunk.
	j.settling.Add(1)
	j.work.Lock()
	j.settling.Add(-1)
	defer j.work.Unlock()
	if err := j.moveQueued(nil); err != nil {
		return err
	}
	return j.checkpoint()
}

func (j *journal) run() {
	defer close(j.done)
	timer := time.NewTimer(checkpointEvery / 4)
	defer timer.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-j.wake:
		case <-timer.C:
		}
		j.work.Lock()
		select {
		case <-j.stop:
			j.work.Unlock()
			return
		default:
		}
		err := j.moveAndCheckpoint()
		if err == nil {
			err = j.prewriteWhileIdle()
		}

		next := j.nextRound()
		j.work.Unlock()
		if err != nil {
			j.breakWith(err)
		}
		timer.Reset(next)
	}
}

// lowWater is the number of free segments at which the mover and the
// checkpoint start whether or not uploads have paused (called with mu
// held).
func (j *journal) lowWater() int { return max(1, j.maxSegs/4) }

// moveDue says whether the mover should run now (called with mu held):
// segments are running out, uploads have paused, or the oldest object has
// waited long.
func (j *journal) moveDue(now time.Time) bool {
	if len(j.queue) == 0 {
		return false
	}
	return j.closed || len(j.free) <= j.lowWater() || now.Sub(j.lastAppend) >= moveIdle ||
		now.Sub(j.queue[0].modTime) >= moveMaxAge
}

// nextRound is how long the mover may sleep before moving or
// checkpointing is due, barring a wake (called with work held).
func (j *journal) nextRound() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	next := checkpointEvery / 4
	j.moverArmed = len(j.queue) > 0
	if j.moverArmed {
		next = min(next, moveIdle-now.Sub(j.lastAppend), moveMaxAge-now.Sub(j.queue[0].modTime))
	}
	if j.moved {
		next = min(next, checkpointIdle-now.Sub(j.lastAppend))
	}
	if j.prewritePending() {
		next = min(next, moveIdle-now.Sub(j.lastAppend))
	}
	return max(next, 5*time.Millisecond)
}

// moveAndCheckpoint moves queued records while moveDue holds and
// checkpoints when checkpointDue says (called with work held). While
// segments run short it checkpoints after each segment's records are
// moved, so that segments come free one at a time as uploads keep
// arriving; a checkpoint only after the whole queue would leave the
// uploads meanwhile with a full journal, each then written the plain
// way with its own fsyncs.
func (j *journal) moveAndCheckpoint() error {
	for {
		freed, err := j.moveWhileDue()
		if err != nil {
			return err
		}
		if j.checkpointDue() {
			if err := j.checkpoint(); err != nil {
				return err
			}
		}
		if !freed {
			return nil
		}
	}
}

// moveWhileDue moves queued records while moveDue holds (called with work
// held): uploads that resume stop it, unless segments are running out.
// Then it stops once the records of the segment it started in are moved,
// and says so (freed), for a checkpoint to free that segment.
func (j *journal) moveWhileDue() (freed bool, err error) {
	j.mu.Lock()
	due := j.moveDue(time.Now())
	j.mu.Unlock()
	if !due {
		return false, nil
	}
	var first *segment
	err = j.moveQueued(func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		if !j.moveDue(time.Now()) {
			return false
		}
		head := j.queue[0].seg
		if first == nil {
			first = head
		}
		if head != first && len(j.free) <= j.lowWater() {
			freed = true
			return false
		}
		return true
	})
	return freed, err
}

// checkpointDue: the journal is running out of free segments, or uploads
// have paused, or moved objects have waited long. A checkpoint's syncfs
// writes everything the mover wrote since the last one, and uploads'
// fdatasyncs wait behind it, so while uploads run it comes only when
// segments are needed; the kernel writes most of the moved files back
// meanwhile.
func (j *journal) checkpointDue() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.moved {
		return false
	}
	idle := time.Since(j.lastAppend) >= checkpointIdle
	return len(j.free) <= j.lowWater() || idle || time.Since(j.lastCP) >= checkpointEvery
}

// moverDirect says whether the mover should write around the page cache
// (called with mu held): it does while segments are running out, that is
// while uploads keep arriving faster than it moves. A buffered write into
// a new file fills fresh page-cache pages, which under sustained uploads
// took most of the server's CPU (a perf profile of four CTs sent back to
// back: 70 % of radmark's samples in the kernel's copy into them), and
// the checkpoint's syncfs must then write them all while uploads'
// fdatasyncs wait behind it; an O_DIRECT write goes to the device at
// once, from one reused buffer. Otherwise the mover writes through the page cache, so that
// objects moved while uploads pause stay cached for the reads that follow
// an upload (a viewer opening the series).
func (j *journal) moverDirect() bool { return len(j.free) <= j.lowWater() }

// moveQueued writes the queued records into the folder tree, all of them
// or while more() says so (called with work held).
func (j *journal) moveQueued(more func() bool) error {
	for {
		if more != nil && !more() {
			return nil
		}
		j.mu.Lock()
		if len(j.queue) == 0 {
			j.mu.Unlock()
			return nil
		}
		rec := j.queue[0]
		superseded := j.pending[rec.key] != rec
		direct := j.moverDirect()
		j.mu.Unlock()
		if !superseded {
			if err := j.moveOne(rec, direct); err != nil {
				return fmt.Errorf("fsblob: journal: move %s into the tree: %w", blob.QuoteKey(rec.key), err)
			}
		}
		j.mu.Lock()
		j.queue = j.queue[1:]
		if rec.mem != nil {
			freeChunks(rec.mem)
			rec.mem = nil
			j.stagedMem -= rec.held
			j.queuedMem -= rec.held
		}
		if j.pending[rec.key] == rec {
			delete(j.pending, rec.key)
			for d := parentKey(rec.key); d != ""; d = parentKey(d) {
				if j.dirs[d]--; j.dirs[d] <= 0 {
					delete(j.dirs, d)
				}
			}
		}
		j.moved = true
		j.mu.Unlock()
	}
}

// moveOne writes a record's object into the tree, as Put does but without
// syncing: the checkpoint's syncfs does that for many at once. With
// direct it writes through O_DIRECT (see moverDirect), where the file
// system allows it.
func (j *journal) moveOne(rec *record, direct bool) error {
	f, err := j.s.createTemp()
	if err != nil {
		return err
	}
	placed := false
	defer func() {
		if !placed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if direct && !j.noDirect {
		if err = j.s.fail("direct", f.Name()); err == nil {
			err = writeDirect(f, j.objectReader(rec), rec.size, j.alignedBuffer())
		}
		if errors.Is(err, errDirectUnsupported) {
			// Not on this file system: write through the page cache from
			// now on.
			j.noDirect = true
			if err = rewind(f); err == nil {
				_, err = io.Copy(f, j.objectReader(rec))
			}
		}
	} else {
		_, err = io.Copy(f, j.objectReader(rec))
	}
	if err != nil {
		return err
	}
	setSHA256(f, rec.sum)
	if err := f.Close(); err != nil {
		return err
	}
	if err := j.s.place(rec.key, f.Name(), j.s.path(rec.key)); err != nil {
		return err
	}
	placed = true
	return nil
}

// objectReader reads a record's object: from memory if it is held there,
// else from its segment.
func (j *journal) objectReader(rec *record) io.Reader {
	if rec.mem != nil {
		return chunkReader(rec.mem)
	}
	return io.NewSectionReader(rec.seg.f, rec.dataOff(), rec.size)
}

// alignedBuffer is the mover's buffer for O_DIRECT writes, made on first
// use (called with work held).
func (j *journal) alignedBuffer() []byte {
	if j.directBuf == nil {
		j.directBuf = alignedBytes(directBufferSize)
	}
	return j.directBuf
}

// checkpoint makes the moved objects durable and records that the log
// below the oldest unmoved record is done (called with work held).
func (j *journal) checkpoint() error {
	j.mu.Lock()
	cp := j.nextSeq
	for seq := range j.inflight {
		cp = min(cp, seq)
	}
	for _, r := range j.queue {
		cp = min(cp, r.seq)
	}
	for seq := range j.unindexed {
		cp = min(cp, seq)
	}
	barrier, needBarrier := j.barrier, j.metaPending
	if needBarrier && barrier == nil {
		// Records whose owner's commits are not known durable: they stay
		// replayable until the owner provides a barrier.
		j.mu.Unlock()
		return nil
	}
	j.moved = false
	j.metaPending = len(j.unindexed) > 0
	j.mu.Unlock()
	if cp <= j.cpSeq {
		return nil
	}
	if err := syncAll(j.s.root); err != nil {
		return err
	}
	if needBarrier {
		if err := barrier(context.Background()); err != nil {
			j.mu.Lock()
			j.metaPending = true
			j.mu.Unlock()
			return fmt.Errorf("fsblob: journal: make the index durable: %w", err)
		}
	}
	if err := j.writeCheckpoint(cp); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cpSeq = cp
	j.lastCP = time.Now()
	for k, seq := range j.live {
		if seq < cp {
			delete(j.live, k)
		}
	}
	for _, sg := range j.segs {
		if sg == j.cur || sg.writers > 0 || sg.readers > 0 || sg.maxSeq >= cp || slices.Contains(j.free, sg) {
			continue
		}
		j.free = append(j.free, sg)
	}
	if j.cur != nil && j.cur.writers == 0 && j.cur.readers == 0 && j.cur.maxSeq < cp {
		// Nothing in the current segment is needed: start it over rather
		// than moving on, so an idle server keeps reusing one segment.
		j.cur.used, j.cur.maxSeq = 0, 0
	}
	return nil
}

func (j *journal) close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	// Give Puts that were writing when Close was called the time to
	// publish, so their objects are moved below rather than only at the
	// next start's replay.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		j.mu.Lock()
		n := len(j.inflight)
		j.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Puts still writing when Close is called fall back to the plain way
	// or fail; what was published is settled here.
	err := j.settle()
	j.release()
	return err
}
