package timers

import "hash/maphash"

// queue is the in-memory schedule of every pending timer: a binary min-heap
// of (due, slot) nodes and an open-addressing hash index from Key to slot,
// over a slab of entries. A timer costs a 24-byte entry, a 16-byte heap node
// and 8–16 bytes of index, plus its ID string (shared with the caller, not
// copied); there is no allocation per timer once the slices have grown. The
// slices shrink again when most timers are gone. Not safe for concurrent use.
type queue struct {
	heap    []node
	entries []entry
	free    []uint32
	table   []uint32 // 0: empty; otherwise slot+1. Linear probing, load <= 1/2.
	kinds   []string
	kindOf  map[string]uint16
	seed    maphash.Seed
}

type node struct {
	due  int64 // unix nanoseconds
	slot uint32
}

type entry struct {
	id   string
	hpos int32 // index in heap; -1 while the slot is free
	kind uint16
}

const (
	maxKinds       = 1 << 16
	minTable       = 16
	compactAtLeast = 1024
)

func newQueue() *queue {
	return &queue{table: make([]uint32, minTable), kindOf: map[string]uint16{}, seed: maphash.MakeSeed()}
}

func (q *queue) len() int { return len(q.heap) }

// intern returns the code of kind, adding it when new.
func (q *queue) intern(kind string) (uint16, error) {
	if c, ok := q.kindOf[kind]; ok {
		return c, nil
	}
	if len(q.kinds) >= maxKinds {
		return 0, ErrTooManyKinds
	}
	c := uint16(len(q.kinds))
	q.kinds = append(q.kinds, kind)
	q.kindOf[kind] = c
	return c, nil
}

func (q *queue) home(id string, kind uint16) int {
	h := maphash.String(q.seed, id) + uint64(kind)*0x9E3779B97F4A7C15
	return int(h & uint64(len(q.table)-1))
}

// find returns the table position of (id, kind) and its slot; when absent,
// pos is the empty position where it would be inserted.
func (q *queue) find(id string, kind uint16) (pos int, slot uint32, ok bool) {
	mask := len(q.table) - 1
	for pos = q.home(id, kind); ; pos = (pos + 1) & mask {
		s := q.table[pos]
		if s == 0 {
			return pos, 0, false
		}
		if e := &q.entries[s-1]; e.kind == kind && e.id == id {
			return pos, s - 1, true
		}
	}
}

func (q *queue) lookup(k Key) (uint32, bool) {
	code, ok := q.kindOf[k.Kind]
	if !ok {
		return 0, false
	}
	_, slot, ok := q.find(k.ID, code)
	return slot, ok
}

// get returns the due time of k.
func (q *queue) get(k Key) (int64, bool) {
	slot, ok := q.lookup(k)
	if !ok {
		return 0, false
	}
	return q.heap[q.entries[slot].hpos].due, true
}

// set adds k or moves it to due. It reports whether k is now the earliest.
func (q *queue) set(k Key, due int64) (bool, error) {
	code, err := q.intern(k.Kind)
	if err != nil {
		return false, err
	}
	pos, slot, ok := q.find(k.ID, code)
	if ok {
		i := int(q.entries[slot].hpos)
		old := q.heap[i].due
		q.heap[i].due = due
		if due < old {
			q.up(i)
		} else {
			q.down(i)
		}
		return q.entries[slot].hpos == 0, nil
	}
	if (len(q.heap)+1)*2 > len(q.table) {
		q.rehash(len(q.table) * 2)
		pos, _, _ = q.find(k.ID, code)
	}
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.entries[slot] = entry{id: k.ID, kind: code}
	} else {
		slot = uint32(len(q.entries))
		q.entries = append(q.entries, entry{id: k.ID, kind: code})
	}
	q.table[pos] = slot + 1
	q.heap = append(q.heap, node{due: due, slot: slot})
	q.up(len(q.heap) - 1)
	return q.entries[slot].hpos == 0, nil
}

// remove deletes k and returns its due time.
func (q *queue) remove(k Key) (int64, bool) {
	slot, ok := q.lookup(k)
	if !ok {
		return 0, false
	}
	due := q.heap[q.entries[slot].hpos].due
	q.removeSlot(slot)
	return due, true
}

// removeIf deletes k only if it is due at due.
func (q *queue) removeIf(k Key, due int64) bool {
	slot, ok := q.lookup(k)
	if !ok || q.heap[q.entries[slot].hpos].due != due {
		return false
	}
	q.removeSlot(slot)
	return true
}

// peek returns the earliest due time.
func (q *queue) peek() (int64, bool) {
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].due, true
}

// pop removes the earliest timer. The queue must not be empty.
func (q *queue) pop() (Key, int64) {
	n := q.heap[0]
	e := q.entries[n.slot]
	k := Key{ID: e.id, Kind: q.kinds[e.kind]}
	q.removeSlot(n.slot)
	return k, n.due
}

func (q *queue) removeSlot(slot uint32) {
	e := &q.entries[slot]
	pos, _, ok := q.find(e.id, e.kind)
	if !ok {
		panic("timers: queue index out of step with heap") // a bug, never input
	}
	q.tableDelete(pos)
	i, last := int(e.hpos), len(q.heap)-1
	*e = entry{hpos: -1} // drop the ID string
	q.free = append(q.free, slot)
	if i != last {
		q.heap[i] = q.heap[last]
		q.entries[q.heap[i].slot].hpos = int32(i)
	}
	q.heap = q.heap[:last]
	if i != last {
		if i > 0 && q.heap[i].due < q.heap[(i-1)/2].due {
			q.up(i)
		} else {
			q.down(i)
		}
	}
	if len(q.entries) >= compactAtLeast && len(q.heap) < len(q.entries)/4 {
		q.compact()
	}
}

// tableDelete empties table position i, shifting later members of its
// cluster back so that every probe sequence stays unbroken (Knuth's
// algorithm R).
func (q *queue) tableDelete(i int) {
	mask := len(q.table) - 1
	for j := i; ; {
		j = (j + 1) & mask
		s := q.table[j]
		if s == 0 {
			break
		}
		e := &q.entries[s-1]
		h := q.home(e.id, e.kind)
		// The member at j may stay when its home lies cyclically in (i, j].
		if (i <= j && i < h && h <= j) || (i > j && (h > i || h <= j)) {
			continue
		}
		q.table[i] = s
		i = j
	}
	q.table[i] = 0
}

func (q *queue) rehash(size int) {
	q.table = make([]uint32, size)
	mask := size - 1
	for _, n := range q.heap {
		e := &q.entries[n.slot]
		pos := q.home(e.id, e.kind)
		for q.table[pos] != 0 {
			pos = (pos + 1) & mask
		}
		q.table[pos] = n.slot + 1
	}
}

// compact renumbers the slots densely (slot = heap index) and shrinks every
// slice, so that memory follows the number of pending timers down.
func (q *queue) compact() {
	n := len(q.heap)
	heap := make([]node, n, n+n/4)
	entries := make([]entry, n, n+n/4)
	for i, nd := range q.heap {
		entries[i] = q.entries[nd.slot]
		entries[i].hpos = int32(i)
		heap[i] = node{due: nd.due, slot: uint32(i)}
	}
	q.heap, q.entries, q.free = heap, entries, nil
	size := minTable
	for size < 2*n+2 {
		size *= 2
	}
	q.rehash(size)
}

func (q *queue) up(i int) {
	nd := q.heap[i]
	for i > 0 {
		p := (i - 1) / 2
		if q.heap[p].due <= nd.due {
			break
		}
		q.heap[i] = q.heap[p]
		q.entries[q.heap[i].slot].hpos = int32(i)
		i = p
	}
	q.heap[i] = nd
	q.entries[nd.slot].hpos = int32(i)
}

func (q *queue) down(i int) {
	nd := q.heap[i]
	n := len(q.heap)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && q.heap[r].due < q.heap[c].due {
			c = r
		}
		if nd.due <= q.heap[c].due {
			break
		}
		q.heap[i] = q.heap[c]
		q.entries[q.heap[i].slot].hpos = int32(i)
		i = c
	}
	q.heap[i] = nd
	q.entries[nd.slot].hpos = int32(i)
}
