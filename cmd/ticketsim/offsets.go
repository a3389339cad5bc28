package main

import (
	"sync"

	kafkago "github.com/segmentio/kafka-go"
)

// offsets tracks, per partition, which fetched records are finished, so that
// only a contiguous prefix is committed: a record whose ticket sequence is
// still running (or was cut short by shutdown) is never committed, and is
// seen again after a restart. Safe for concurrent use.
type offsets struct {
	mu      sync.Mutex
	parts   map[int]*partition
	pending map[int]kafkago.Message // the newest committable record per partition, not yet committed
	ready   chan struct{}           // signalled when pending gained something
}

type partition struct {
	queue []entry // fetched, in offset order, from the oldest unfinished one
	last  int64   // highest offset added
}

type entry struct {
	m    kafkago.Message
	done bool
}

func newOffsets() *offsets {
	return &offsets{parts: map[int]*partition{}, pending: map[int]kafkago.Message{}, ready: make(chan struct{}, 1)}
}

// add starts tracking a fetched record. It returns false if the record's
// offset is not past the last one added for its partition (a redelivery
// after a rebalance): the earlier fetch is still being handled, so the
// caller must skip it.
func (o *offsets) add(m kafkago.Message) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.parts[m.Partition]
	if p == nil {
		p = &partition{last: -1}
		o.parts[m.Partition] = p
	}
	if m.Offset <= p.last {
		return false
	}
	p.last = m.Offset
	p.queue = append(p.queue, entry{m: m})
	return true
}

// done marks a record finished; if that completes a prefix of its
// partition, the last record of the prefix becomes committable.
func (o *offsets) done(m kafkago.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.parts[m.Partition]
	if p == nil {
		return
	}
	for i := range p.queue {
		if p.queue[i].m.Offset == m.Offset {
			p.queue[i].done = true
			break
		}
	}
	n := 0
	for n < len(p.queue) && p.queue[n].done {
		n++
	}
	if n == 0 {
		return
	}
	o.pending[m.Partition] = p.queue[n-1].m
	p.queue = append(p.queue[:0], p.queue[n:]...)
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// take returns the committable records and forgets them.
func (o *offsets) take() []kafkago.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]kafkago.Message, 0, len(o.pending))
	for k, m := range o.pending {
		out = append(out, m)
		delete(o.pending, k)
	}
	return out
}

// restore puts back records whose commit failed, unless a newer record of
// the same partition became committable meanwhile.
func (o *offsets) restore(ms []kafkago.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range ms {
		if cur, ok := o.pending[m.Partition]; !ok || cur.Offset < m.Offset {
			o.pending[m.Partition] = m
		}
	}
}
