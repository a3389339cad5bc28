package kafka

import (
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Lag is how far a consumer is behind its topic, per partition it handled
// records of: the records after the one it is handling (or handled last) up
// to the partition's high watermark as of that record's fetch, and how old
// the oldest record it has not finished is. Safe for concurrent use; the
// gateway reads it at each scrape of /metrics.
type Lag struct {
	now func() time.Time

	mu    sync.Mutex
	parts map[int]*partLag
}

type partLag struct {
	behind   int64     // records at or after the next one to handle
	handling time.Time // the record being handled was written then; zero when idle
	last     time.Time // the last handled record was written then
}

// NewLag returns an empty Lag reading time from now (nil: time.Now).
func NewLag(now func() time.Time) *Lag {
	if now == nil {
		now = time.Now
	}
	return &Lag{now: now, parts: map[int]*partLag{}}
}

// Messages is the number of records not yet handled, summed over partitions.
func (l *Lag) Messages() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, p := range l.parts {
		n += p.behind
	}
	return n
}

// Seconds is the age of the oldest record not yet handled: the one being
// handled (a record retried for minutes shows here), or, while more records
// wait, at most the age of the last handled one; 0 when caught up.
func (l *Lag) Seconds() float64 {
	if l == nil {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var oldest time.Duration
	for _, p := range l.parts {
		var age time.Duration
		switch {
		case !p.handling.IsZero():
			age = now.Sub(p.handling)
		case p.behind > 0 && !p.last.IsZero():
			age = now.Sub(p.last)
		}
		oldest = max(oldest, age)
	}
	return oldest.Seconds()
}

// start records that m is being handled.
func (l *Lag) start(m kafkago.Message) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.part(m.Partition)
	p.behind = max(m.HighWaterMark-m.Offset, 1)
	p.handling = m.Time
	if p.handling.IsZero() { // a record without a timestamp: count from now
		p.handling = l.now()
	}
}

// done records that m was handled (or dead-lettered).
func (l *Lag) done(m kafkago.Message) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.part(m.Partition)
	p.behind = max(m.HighWaterMark-m.Offset-1, 0)
	p.last, p.handling = p.handling, time.Time{}
}

func (l *Lag) part(n int) *partLag {
	p := l.parts[n]
	if p == nil {
		p = &partLag{}
		l.parts[n] = p
	}
	return p
}
