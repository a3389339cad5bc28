package bus_test

import (
	"context"
	"sync"

	"github.com/hotline12345/gateway/livechat/bus"
)

// memBus is the floor of the figures: every node is one in-process bus,
// and a subscription a goroutine fed by a buffered channel, as a NATS
// client's is. Only the harness's and the scheduler's costs are left.
type memBus struct {
	mu   sync.Mutex
	subs map[string][]*memSub
}

type memSub struct {
	b    *memBus
	subj string
	ch   chan []byte
	once sync.Once
}

func memCluster(n int) []bus.Bus {
	m := &memBus{subs: map[string][]*memSub{}}
	out := make([]bus.Bus, n)
	for i := range out {
		out[i] = m
	}
	return out
}

func (m *memBus) Publish(_ context.Context, subject string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.subs[subject] {
		select {
		case s.ch <- append([]byte(nil), data...):
		default: // full: dropped, as a slow consumer's
		}
	}
	return nil
}

func (m *memBus) Subscribe(_ context.Context, subject string, fn func([]byte)) (bus.Subscription, error) {
	s := &memSub{b: m, subj: subject, ch: make(chan []byte, 1<<16)}
	go func() { // owned by the subscription: ends when Unsubscribe closes ch
		for d := range s.ch {
			fn(d)
		}
	}()
	m.mu.Lock()
	m.subs[subject] = append(m.subs[subject], s)
	m.mu.Unlock()
	return s, nil
}

func (m *memBus) Close(context.Context) error { return nil }

func (s *memSub) Unsubscribe() error {
	s.once.Do(func() {
		s.b.mu.Lock()
		defer s.b.mu.Unlock()
		subs := s.b.subs[s.subj]
		for i, o := range subs {
			if o == s {
				s.b.subs[s.subj] = append(subs[:i:i], subs[i+1:]...)
				break
			}
		}
		close(s.ch)
	})
	return nil
}
