package store

// The write-ahead log. bbolt commits by writing each dirty page where it
// lives in the file (~20 scattered pages per commit here) and fdatasyncing
// twice, data then meta page. On this machine's disk that costs 0.8 ms at the
// median; appending the same pages to a log and fdatasyncing once costs 0.1–
// 0.3 ms (docs/benchmarks.md). So bbolt runs with NoSync, and every commit
// goes like this, on the store's single writer:
//
//  1. bbolt writes the data pages to the file as usual (no fsync); the log
//     copies them. bbolt's meta page, the one write that makes the commit
//     visible, is held back.
//  2. The log appends one record (every page of the commit, meta included)
//     to its current segment and fdatasyncs it: the commit is durable.
//  3. The meta page goes to the file, before the next transaction begins.
//
// The file itself is fsync'ed only at checkpoints: when a segment is full
// the writer moves to the next one and a checkpointer fdatasyncs the file in
// the background, then records (in the checkpoint file) the first log
// record the file may lack. At Open, the records from there on are written
// back into the file, in order, before bbolt opens it: a crash that lost
// any of the file's unsynced writes (the meta page among them) leaves
// exactly the last durable commit. Data pages that reach the file before
// their record is durable are harmless: bbolt writes a commit's data only
// to pages the last commit does not use.
//
// Segments are reused in turn once a checkpoint covers them, so the log is
// bounded (Options.WALSegments × WALSegmentSize) and, after the first round,
// overwrites blocks already allocated: its fdatasync need not commit the
// file system's journal.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"go.etcd.io/bbolt"
)

// ErrWAL is wrapped by every Update error after the log failed to write or
// sync: the store takes no more writes.
var ErrWAL = errors.New("store: write-ahead log failed")

const (
	walMagic   = 0x4c415757 // "WWAL"
	walHdrSize = 4 + 4 + 8 + 4
	ckptSlot   = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var zeroHeader [walHdrSize]byte // a record's header, before it is sealed

type wal struct {
	path     string   // the store file; segments are path-wal.N, the checkpoint path-wal.ckpt
	main     *os.File // the store file, for checkpoints and replay
	ckpt     *os.File
	segs     []*os.File
	segSize  int64
	pageSize int64
	orig     func([]byte, int64) (int, error) // bbolt's own writeAt

	// Writer state (the store's writer goroutine only).
	rec     []byte // the record being assembled: header, then entries
	meta    []byte // the held-back meta page
	metaOff int64
	cur     int
	off     int64
	lsn     uint64   // the next record's
	segMax  []uint64 // highest lsn in each segment (0: none since the last recovery)
	failed  error

	// Checkpoints.
	mu       sync.Mutex
	cond     *sync.Cond
	done     uint64 // every record below is in the synced file
	want     uint64 // the boundary asked for
	stopping bool
	ckptErr  error
	count    int64
	slot     int
	finished chan struct{}
}

// walNames are the log's files beside the store file at path.
func walSegName(path string, i int) string { return fmt.Sprintf("%s-wal.%d", path, i) }
func walCkptName(path string) string       { return path + "-wal.ckpt" }

// openWAL replays what the store file may lack, then opens the log. It runs
// before bbolt opens the file.
func openWAL(path string, segments int, segSize int64) (*wal, error) {
	w := &wal{path: path, segSize: segSize, segMax: make([]uint64, segments), finished: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	var err error
	if w.main, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	if w.ckpt, err = os.OpenFile(walCkptName(path), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		w.close()
		return nil, err
	}
	// Replaying into a file another process is using would corrupt it: the
	// lock comes first (bbolt takes its own on the store file afterwards).
	if err := lockFile(w.ckpt, 2*time.Second); err != nil {
		w.close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	for i := range segments {
		f, err := os.OpenFile(walSegName(path, i), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			w.close()
			return nil, err
		}
		w.segs = append(w.segs, f)
	}
	// Segments beyond the configured count (a log left with more of them)
	// are read too, then dropped: recovery leaves nothing in them it needs.
	for i := segments; ; i++ {
		f, err := os.OpenFile(walSegName(path, i), os.O_RDWR, 0)
		if err != nil {
			break
		}
		w.segs = append(w.segs, f)
	}
	if err := w.recover(); err != nil {
		w.close()
		return nil, fmt.Errorf("store: cannot recover from the write-ahead log: %w", err)
	}
	for i, f := range w.segs[segments:] {
		_ = f.Close()
		_ = os.Remove(walSegName(path, segments+i))
	}
	w.segs = w.segs[:segments]
	go w.checkpointer()
	return w, nil
}

// recover writes every durable record from the checkpoint on into the store
// file, syncs it, and starts the log afresh after them.
func (w *wal) recover() error {
	start, slot, err := readCheckpoint(w.ckpt)
	if err != nil {
		return err
	}
	w.slot = slot
	type found struct {
		lsn uint64
		seg int
		off int64
	}
	var recs []found
	for i, f := range w.segs {
		for off := int64(0); ; {
			lsn, _, n, ok := readRecord(f, off)
			if !ok {
				break
			}
			if lsn >= start {
				recs = append(recs, found{lsn, i, off})
			}
			off += int64(n)
		}
	}
	slices.SortFunc(recs, func(a, b found) int { return cmpU64(a.lsn, b.lsn) })
	next := start
	for _, r := range recs {
		if r.lsn != next { // a gap: what follows was never acknowledged
			break
		}
		_, body, _, ok := readRecord(w.segs[r.seg], r.off)
		if !ok {
			break
		}
		if err := forEachEntry(body, func(off int64, page []byte) error {
			_, err := w.main.WriteAt(page, off)
			return err
		}); err != nil {
			return err
		}
		next++
	}
	if next > start {
		if err := syscall.Fdatasync(int(w.main.Fd())); err != nil {
			return err
		}
	}
	if err := w.writeCheckpoint(next); err != nil {
		return err
	}
	w.lsn, w.done, w.want = next, next, next
	return nil
}

// ErrLocked means another process has the store open.
var ErrLocked = errors.New("another process has the store open")

// lockFile takes an exclusive flock on f, trying until timeout. It is
// released when f is closed (or the process ends).
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// hook routes bbolt's writes through the log. bbolt has no option for it:
// its one write function is an unexported field, replaced here through
// reflection. TestWALHookIsInstalled fails if a bbolt upgrade moves it.
func (w *wal) hook(b *bbolt.DB) error {
	f := reflect.ValueOf(b).Elem().FieldByName("ops")
	if f.IsValid() {
		f = f.FieldByName("writeAt")
	}
	var fn func([]byte, int64) (int, error)
	if !f.IsValid() || f.Type() != reflect.TypeOf(fn) {
		return errors.New("store: this bbolt version has no ops.writeAt to route through the write-ahead log")
	}
	p := (*func([]byte, int64) (int, error))(unsafe.Pointer(f.UnsafeAddr()))
	w.orig = *p
	w.pageSize = int64(b.Info().PageSize)
	*p = w.writeAt
	b.NoSync = true
	w.begin()
	return nil
}

// writeAt is bbolt's write function while the log is on.
func (w *wal) writeAt(p []byte, off int64) (int, error) {
	if off < 2*w.pageSize { // pages 0 and 1 are the meta pages
		w.meta = append(w.meta[:0], p...)
		w.metaOff = off
		return len(p), nil
	}
	w.rec = binary.BigEndian.AppendUint64(w.rec, uint64(off))
	w.rec = binary.BigEndian.AppendUint32(w.rec, uint32(len(p)))
	w.rec = append(w.rec, p...)
	return w.orig(p, off)
}

// begin starts a record; every commit calls it first.
func (w *wal) begin() {
	w.rec = append(w.rec[:0], zeroHeader[:]...)
	w.meta = w.meta[:0]
}

// commit makes the transaction bbolt just committed durable: its record is
// appended and synced, then its meta page written to the file.
func (w *wal) commit() error {
	if w.failed != nil {
		return w.failed
	}
	if len(w.meta) == 0 { // nothing was written (a read-only or empty commit)
		w.begin()
		return nil
	}
	w.rec = binary.BigEndian.AppendUint64(w.rec, uint64(w.metaOff))
	w.rec = binary.BigEndian.AppendUint32(w.rec, uint32(len(w.meta)))
	w.rec = append(w.rec, w.meta...)
	sealRecord(w.rec, w.lsn)
	err := w.append()
	if err == nil {
		_, err = w.orig(w.meta, w.metaOff)
	}
	w.begin()
	if err != nil {
		w.failed = fmt.Errorf("%w: %w", ErrWAL, err)
		return w.failed
	}
	return nil
}

func (w *wal) append() error {
	if w.off > 0 && w.off+int64(len(w.rec)) > w.segSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	f := w.segs[w.cur]
	if _, err := f.WriteAt(w.rec, w.off); err != nil {
		return err
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return err
	}
	w.off += int64(len(w.rec))
	w.segMax[w.cur] = w.lsn
	w.lsn++
	return nil
}

// rotate moves to the next segment, asking for a checkpoint of everything
// before it, and waits if that segment is not yet covered by one.
func (w *wal) rotate() error {
	next := (w.cur + 1) % len(w.segs)
	w.mu.Lock()
	w.want = w.lsn // every record below has all its pages in the file
	w.cond.Broadcast()
	for w.segMax[next] >= w.done && w.ckptErr == nil {
		w.cond.Wait()
	}
	err := w.ckptErr
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.cur, w.off, w.segMax[next] = next, 0, 0
	return nil
}

// checkpointer syncs the store file whenever a boundary is asked for, then
// records it. It runs until close.
func (w *wal) checkpointer() {
	defer close(w.finished)
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for w.want <= w.done && !w.stopping {
			w.cond.Wait()
		}
		if w.want <= w.done {
			return
		}
		target := w.want
		w.mu.Unlock()
		err := syscall.Fdatasync(int(w.main.Fd()))
		if err == nil {
			err = w.writeCheckpoint(target)
		}
		w.mu.Lock()
		if err != nil {
			w.ckptErr = fmt.Errorf("%w: checkpoint: %w", ErrWAL, err)
			w.cond.Broadcast()
			return
		}
		w.done = target
		w.count++
		w.cond.Broadcast()
	}
}

// checkpoints returns how many background checkpoints completed.
func (w *wal) checkpoints() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// finish checkpoints everything (the writer has stopped) and closes the log.
func (w *wal) finish() error {
	w.mu.Lock()
	w.stopping = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.finished
	err := w.ckptErr
	if err == nil && w.failed == nil {
		if err = syscall.Fdatasync(int(w.main.Fd())); err == nil {
			err = w.writeCheckpoint(w.lsn)
		}
	}
	w.close()
	return err
}

func (w *wal) close() {
	for _, f := range append([]*os.File{w.main, w.ckpt}, w.segs...) {
		if f != nil {
			_ = f.Close()
		}
	}
}

// The checkpoint file has two slots of [lsn u64][crc32c u32], written in
// turn: a torn write spoils one slot, never both.
func readCheckpoint(f *os.File) (lsn uint64, slot int, err error) {
	buf := make([]byte, 2*ckptSlot)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	lsn, slot = 1, 1 // a new log starts at 1 and writes slot 0 first
	for i := range 2 {
		if n < (i+1)*ckptSlot {
			break
		}
		s := buf[i*ckptSlot:]
		v := binary.BigEndian.Uint64(s)
		if crc32.Checksum(s[:8], castagnoli) == binary.BigEndian.Uint32(s[8:]) && v >= lsn {
			lsn, slot = v, i
		}
	}
	return lsn, slot, nil
}

func (w *wal) writeCheckpoint(lsn uint64) error {
	w.slot = 1 - w.slot
	buf := make([]byte, ckptSlot)
	binary.BigEndian.PutUint64(buf, lsn)
	binary.BigEndian.PutUint32(buf[8:], crc32.Checksum(buf[:8], castagnoli))
	if _, err := w.ckpt.WriteAt(buf, int64(w.slot*ckptSlot)); err != nil {
		return err
	}
	return syscall.Fdatasync(int(w.ckpt.Fd()))
}

// A record: [magic u32][crc32c u32 of what follows][lsn u64][body length
// u32][body], the body a run of [offset u64][length u32][page bytes].
func sealRecord(rec []byte, lsn uint64) {
	binary.BigEndian.PutUint32(rec[0:], walMagic)
	binary.BigEndian.PutUint64(rec[8:], lsn)
	binary.BigEndian.PutUint32(rec[16:], uint32(len(rec)-walHdrSize))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], castagnoli))
}

// readRecord reads the record at off in f (see parseRecord).
func readRecord(f *os.File, off int64) (lsn uint64, body []byte, n int, ok bool) {
	var hdr [walHdrSize]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil || binary.BigEndian.Uint32(hdr[:]) != walMagic {
		return 0, nil, 0, false
	}
	size := int64(binary.BigEndian.Uint32(hdr[16:]))
	if st, err := f.Stat(); err != nil || size > st.Size()-off-walHdrSize {
		return 0, nil, 0, false
	}
	buf := make([]byte, walHdrSize+size)
	if _, err := f.ReadAt(buf, off); err != nil {
		return 0, nil, 0, false
	}
	return parseRecord(buf)
}

// parseRecord reads the record at the start of b; ok is false for anything
// but a whole, intact record (the end of the log, a torn write, stale bytes).
func parseRecord(b []byte) (lsn uint64, body []byte, n int, ok bool) {
	if len(b) < walHdrSize || binary.BigEndian.Uint32(b) != walMagic {
		return 0, nil, 0, false
	}
	size := uint64(binary.BigEndian.Uint32(b[16:]))
	if size > uint64(len(b)-walHdrSize) {
		return 0, nil, 0, false
	}
	n = walHdrSize + int(size)
	if crc32.Checksum(b[8:n], castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return 0, nil, 0, false
	}
	body = b[walHdrSize:n]
	if forEachEntry(body, func(int64, []byte) error { return nil }) != nil {
		return 0, nil, 0, false
	}
	return binary.BigEndian.Uint64(b[8:]), body, n, true
}

var errBadEntry = errors.New("store: malformed log entry")

func forEachEntry(body []byte, fn func(off int64, page []byte) error) error {
	for len(body) > 0 {
		if len(body) < 12 {
			return errBadEntry
		}
		off := binary.BigEndian.Uint64(body)
		size := uint64(binary.BigEndian.Uint32(body[8:]))
		if off > 1<<62 || size > uint64(len(body)-12) {
			return errBadEntry
		}
		if err := fn(int64(off), body[12:12+size]); err != nil {
			return err
		}
		body = body[12+size:]
	}
	return nil
}
