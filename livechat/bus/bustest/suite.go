// Package bustest is the contract of bus.Bus as tests, run against every
// engine (as Watermill runs one suite against every Pub/Sub), and the
// harness that measures them (figures.go).
package bustest

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat/bus"
)

// NewCluster opens n buses, one per node of one cluster, and returns once
// the nodes are connected to each other. t's cleanup closes them.
type NewCluster func(t testing.TB, n int) []bus.Bus

// Features are what the suite must know of an engine.
type Features struct {
	// MaxPayload is the largest frame Publish accepts; one byte more is
	// ErrTooLarge.
	MaxPayload int
}

// deliveryTimeout bounds the wait for a frame that must arrive.
const deliveryTimeout = 10 * time.Second

// Run runs the contract of bus.Bus against the engine newCluster opens.
func Run(t *testing.T, newCluster NewCluster, f Features) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewCluster, Features)
	}{
		{"FanOutToEveryNode", testFanOut},
		{"OrderPerPublisher", testOrder},
		{"SubjectsApart", testSubjectsApart},
		{"Unsubscribe", testUnsubscribe},
		{"Payloads", testPayloads},
		{"InvalidSubject", testInvalidSubject},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newCluster, f) })
	}
}

// subjects are unique across the suite: the PostgreSQL engine's channels
// are shared by every test on one server.
var subjectSeq atomic.Int64

func subject(t testing.TB) string {
	return fmt.Sprintf("bustest.s%d", subjectSeq.Add(1))
}

// Probe frames are "probe:<id>:<n>", id naming one Connect call; recorders
// note them apart, so that a test can wait until a subscription is in
// effect for a publisher before it counts.
const probePrefix = "probe:"

var probeSeq atomic.Int64

// Recorder collects the frames its handler is given.
type Recorder struct {
	mu     sync.Mutex
	frames [][]byte
	probes map[string]bool // ids of the Connect calls whose probes arrived
}

// Handle is the handler to subscribe.
func (r *Recorder) Handle(data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rest, ok := bytes.CutPrefix(data, []byte(probePrefix)); ok {
		id, _, _ := bytes.Cut(rest, []byte(":"))
		if r.probes == nil {
			r.probes = map[string]bool{}
		}
		r.probes[string(id)] = true
		return
	}
	r.frames = append(r.frames, data)
}

// Frames are the frames recorded so far, probes apart.
func (r *Recorder) Frames() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.frames...)
}

// Len is the number of frames recorded so far, probes apart.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

func (r *Recorder) sawProbe(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.probes[id]
}

// Subscribe subscribes a new Recorder on b, unsubscribed by t's cleanup.
func Subscribe(t testing.TB, b bus.Bus, subject string) (*Recorder, bus.Subscription) {
	t.Helper()
	r := &Recorder{}
	sub, err := b.Subscribe(context.Background(), subject, r.Handle)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return r, sub
}

// Connect publishes probes on subject from pub until every recorder has
// seen one: from then on a frame from pub reaches them all. It replaces a
// sleep while a subscription spreads to the other nodes.
func Connect(t testing.TB, pub bus.Bus, subject string, recs ...*Recorder) {
	t.Helper()
	require.NoError(t, connect(context.Background(), pub, subject, recs...))
}

// connect is Connect without a testing.TB.
func connect(ctx context.Context, pub bus.Bus, subject string, recs ...*Recorder) error {
	id := strconv.FormatInt(probeSeq.Add(1), 10)
	deadline := time.Now().Add(deliveryTimeout)
	for n := 0; ; n++ {
		if err := pub.Publish(ctx, subject, []byte(probePrefix+id+":"+strconv.Itoa(n))); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
		all := true
		for _, r := range recs {
			all = all && r.sawProbe(id)
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("subscription on %s not in effect within %s", subject, deliveryTimeout)
		}
	}
}

// Eventually polls cond every few milliseconds until it holds, failing t
// after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			require.Fail(t, "condition not met within "+timeout.String(), msgAndArgs...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func publish(t testing.TB, b bus.Bus, subject, data string) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), subject, []byte(data)))
}

func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

// A frame published on one node reaches the subscribers on every node,
// the publisher's own included, exactly as sent.
func testFanOut(t *testing.T, newCluster NewCluster, _ Features) {
	nodes := newCluster(t, 3)
	subj := subject(t)
	recs := make([]*Recorder, len(nodes))
	for i, n := range nodes {
		recs[i], _ = Subscribe(t, n, subj)
	}
	for from := range nodes {
		Connect(t, nodes[from], subj, recs...)
	}
	publish(t, nodes[0], subj, "from A")
	publish(t, nodes[2], subj, "from C")
	for i, r := range recs {
		Eventually(t, deliveryTimeout, func() bool { return r.Len() == 2 }, "node %d got %q", i, strs(r.Frames()))
		require.ElementsMatch(t, []string{"from A", "from C"}, strs(r.Frames()), "node %d", i)
	}
}

// Frames of one publisher on one subject arrive in publish order; two
// publishers on other nodes interleave but each keeps its order.
func testOrder(t *testing.T, newCluster NewCluster, _ Features) {
	nodes := newCluster(t, 3)
	subj := subject(t)
	rec, _ := Subscribe(t, nodes[1], subj)
	Connect(t, nodes[0], subj, rec)
	Connect(t, nodes[2], subj, rec)
	const perPublisher = 300
	var wg sync.WaitGroup
	for _, p := range []int{0, 2} {
		wg.Go(func() {
			for i := range perPublisher {
				if err := nodes[p].Publish(context.Background(), subj, fmt.Appendf(nil, "%d:%d", p, i)); err != nil {
					t.Errorf("publish %d from node %d: %v", i, p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(deliveryTimeout)
	for rec.Len() < 2*perPublisher && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, 2*perPublisher, rec.Len(), "frames lost on loopback")
	next := map[string]int{}
	for _, f := range rec.Frames() {
		from, i, ok := strings.Cut(string(f), ":")
		require.True(t, ok, string(f))
		require.Equal(t, strconv.Itoa(next[from]), i, "publisher %s out of order", from)
		next[from]++
	}
}

// A subscriber gets its subject's frames only; the subject is literal.
func testSubjectsApart(t *testing.T, newCluster NewCluster, _ Features) {
	nodes := newCluster(t, 2)
	a, b := subject(t), subject(t)
	recA, _ := Subscribe(t, nodes[1], a)
	recB, _ := Subscribe(t, nodes[1], b)
	Connect(t, nodes[0], a, recA)
	Connect(t, nodes[0], b, recB)
	publish(t, nodes[0], a, "for a")
	publish(t, nodes[0], b, "for b")
	Eventually(t, deliveryTimeout, func() bool { return recA.Len() == 1 && recB.Len() == 1 })
	require.Equal(t, []string{"for a"}, strs(recA.Frames()))
	require.Equal(t, []string{"for b"}, strs(recB.Frames()))
}

// After Unsubscribe returns no frame reaches that subscription; another on
// the same subject and node, which proves the frames arrived, goes on; a
// new subscription on the subject gets frames again.
func testUnsubscribe(t *testing.T, newCluster NewCluster, _ Features) {
	nodes := newCluster(t, 2)
	subj := subject(t)
	gone, goneSub := Subscribe(t, nodes[1], subj)
	witness, _ := Subscribe(t, nodes[1], subj)
	Connect(t, nodes[0], subj, gone, witness)
	publish(t, nodes[0], subj, "before")
	Eventually(t, deliveryTimeout, func() bool { return gone.Len() == 1 && witness.Len() == 1 })

	require.NoError(t, goneSub.Unsubscribe())
	require.NoError(t, goneSub.Unsubscribe(), "idempotent")
	for i := range 20 {
		publish(t, nodes[0], subj, fmt.Sprint("after ", i))
	}
	Eventually(t, deliveryTimeout, func() bool { return witness.Len() == 21 })
	require.Equal(t, []string{"before"}, strs(gone.Frames()))

	// The last subscription on the node goes, then a new one comes.
	only := subject(t)
	first, firstSub := Subscribe(t, nodes[1], only)
	Connect(t, nodes[0], only, first)
	require.NoError(t, firstSub.Unsubscribe())
	again, _ := Subscribe(t, nodes[1], only)
	Connect(t, nodes[0], only, again)
	publish(t, nodes[0], only, "again")
	Eventually(t, deliveryTimeout, func() bool { return again.Len() == 1 })
	require.Empty(t, first.Frames())
}

// Any bytes up to the engine's limit arrive unchanged; one more byte is
// refused with ErrTooLarge and nothing is sent.
func testPayloads(t *testing.T, newCluster NewCluster, f Features) {
	nodes := newCluster(t, 2)
	subj := subject(t)
	rec, _ := Subscribe(t, nodes[1], subj)
	Connect(t, nodes[0], subj, rec)

	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	text := []byte(`{"type":"message","data":{"text":"市民您好，请问有什么可以帮您？"}}`)
	largest := bytes.Repeat([]byte("x"), f.MaxPayload)
	ctx := context.Background()
	for _, p := range [][]byte{binary, text, {}, largest} {
		require.NoError(t, nodes[0].Publish(ctx, subj, p))
	}
	err := nodes[0].Publish(ctx, subj, append(largest, 'x'))
	require.ErrorIs(t, err, bus.ErrTooLarge)
	publish(t, nodes[0], subj, "last")

	Eventually(t, deliveryTimeout, func() bool { return rec.Len() == 5 })
	got := rec.Frames()
	require.Equal(t, binary, got[0])
	require.Equal(t, text, got[1])
	require.Empty(t, got[2])
	require.Equal(t, largest, got[3])
	require.Equal(t, "last", string(got[4]))
}

func testInvalidSubject(t *testing.T, newCluster NewCluster, _ Features) {
	nodes := newCluster(t, 1)
	ctx := context.Background()
	for _, s := range []string{"", "a..b", ".a", "a.", "a.*", ">", "a b", "chat.会话", strings.Repeat("x", bus.MaxSubjectLen+1)} {
		require.ErrorIs(t, nodes[0].Publish(ctx, s, nil), bus.ErrInvalidSubject, "%q", s)
		_, err := nodes[0].Subscribe(ctx, s, func([]byte) {})
		require.ErrorIs(t, err, bus.ErrInvalidSubject, "%q", s)
	}
}

// Close is idempotent, stops the node's handlers while the other nodes go
// on, turns Publish and Subscribe into ErrClosed, and leaves no goroutine.
func testClose(t *testing.T, newCluster NewCluster, _ Features) {
	base := runtime.NumGoroutine()
	func() {
		nodes := newCluster(t, 3)
		subj := subject(t)
		closing, _ := Subscribe(t, nodes[1], subj)
		witness, _ := Subscribe(t, nodes[2], subj)
		Connect(t, nodes[0], subj, closing, witness)

		ctx := context.Background()
		require.NoError(t, nodes[1].Close(ctx))
		require.NoError(t, nodes[1].Close(ctx), "idempotent")
		got := closing.Len()
		publish(t, nodes[0], subj, "after close")
		Eventually(t, deliveryTimeout, func() bool { return witness.Len() == 1 })
		require.Equal(t, got, closing.Len(), "handler called after Close")

		require.ErrorIs(t, nodes[1].Publish(ctx, subj, []byte("x")), bus.ErrClosed)
		_, err := nodes[1].Subscribe(ctx, subj, func([]byte) {})
		require.ErrorIs(t, err, bus.ErrClosed)
		for _, n := range nodes {
			require.NoError(t, n.Close(ctx))
		}
	}()
	// Without goleak in go.mod: the count comes back to where it was.
	Eventually(t, deliveryTimeout, func() bool { return runtime.NumGoroutine() <= base },
		"goroutines left after Close: %d, before %d", runtime.NumGoroutine(), base)
}
