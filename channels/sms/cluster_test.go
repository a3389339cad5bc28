package sms_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/pgtest"
	"github.com/hotline12345/gateway/normalize"
)

// Two channel instances on one store stand for two gateways of a cluster
// (contract §8.6): the parts of one long message posted to either are
// joined once, by whichever stores the last part, and a message whose wait
// is over is released once, with the parts of both.

// sharedStore is an engine: start, called once by the engine's test,
// returns what opens one store as two handles, one per instance: the same
// *store.DB for bbolt (one file, one process), two connection pools for
// PostgreSQL, as two gateway processes have.
type sharedStore struct {
	name  string
	start func(t *testing.T) func(t *testing.T) (a, b *store.DB)
}

// sharedStores are bbolt and PostgreSQL (started once per engine test;
// skipped, or failed under CI, without PostgreSQL).
var sharedStores = []sharedStore{
	{"bbolt", func(*testing.T) func(*testing.T) (*store.DB, *store.DB) {
		return func(t *testing.T) (*store.DB, *store.DB) {
			db, err := store.Open(filepath.Join(t.TempDir(), "gateway.db"), store.Options{}, sms.Buckets...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return db, db
		}
	}},
	{"postgres", func(t *testing.T) func(*testing.T) (*store.DB, *store.DB) {
		pg := pgtest.Start(t, pgtest.Options{})
		return func(t *testing.T) (*store.DB, *store.DB) {
			open := func() *store.DB {
				db, err := store.OpenPostgres(context.Background(), pg.DSN(), store.PostgresOptions{}, sms.Buckets...)
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				return db
			}
			return open(), open()
		}
	}},
}

// recordConv records every message handed over; it recognises no repeat,
// so a message handed over twice shows.
type recordConv struct {
	mu   sync.Mutex
	msgs []channels.InboundMessage
}

func (r *recordConv) CitizenMessage(_ context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return channels.ChatResult{SessionID: "s-" + m.ChannelUserID}, nil
}

func (r *recordConv) OpenConversation(context.Context, channels.InboundMessage) (channels.ChatResult, error) {
	return channels.ChatResult{}, nil
}

// of returns the messages handed over for number.
func (r *recordConv) of(number string) []channels.InboundMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []channels.InboundMessage
	for _, m := range r.msgs {
		if m.ChannelUserID == number {
			out = append(out, m)
		}
	}
	return out
}

func (r *recordConv) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

type nopEmitter struct{}

func (nopEmitter) Emit(context.Context, ...*normalize.Event) error { return nil }

// twoNodes starts two instances over a and b with one Conversations and
// one fake clock.
func twoNodes(t *testing.T, a, b *store.DB, wait time.Duration) (*recordConv, *clock.Fake, [2]*chanHarness) {
	t.Helper()
	clk := clock.NewFake(t0)
	conv := &recordConv{}
	cfg := smsConfig(smsformat.ProviderGeneric, "")
	cfg.ReassemblyWait = wait
	return conv, clk, [2]*chanHarness{
		startChannel(t, conv, a, nopEmitter{}, cfg, sms.Options{}, clk),
		startChannel(t, conv, b, nopEmitter{}, cfg, sms.Options{}, clk),
	}
}

// bucketLen counts the records of a bucket.
func bucketLen(t *testing.T, db *store.DB, name string) int {
	t.Helper()
	n := 0
	require.NoError(t, db.View(func(tx *store.Tx) error {
		return tx.Bucket([]byte(name)).ForEach(func(_, _ []byte) error { n++; return nil })
	}))
	return n
}

// requireNothingWaits checks that no part waits and no message waits for
// its hand-off: nothing is left for any node to release.
func requireNothingWaits(t *testing.T, db *store.DB) {
	t.Helper()
	require.Zero(t, bucketLen(t, db, "sms_parts"), "parts left in the store")
	require.Zero(t, bucketLen(t, db, "sms_ready"), "messages left waiting for their hand-off")
}

// post is one callback: part seq (of total) of a message, to instance node;
// id overrides the provider id (a retry under another id).
type post struct {
	node, seq int
	id        string
}

func partOf(number, ref string, texts []string, p post) smsformat.Inbound {
	id := p.id
	if id == "" {
		id = fmt.Sprintf("%s-%s-%d", number, ref, p.seq)
	}
	return smsformat.Inbound{ProviderID: id, Phone: number, Text: texts[p.seq-1], SentAt: t0.Add(time.Duration(p.seq) * time.Second),
		DestCode: "12345", Part: &smsformat.Part{Ref: ref, Total: len(texts), Seq: p.seq}}
}

var longTexts = []string{"我家楼下的路灯", "已经坏了三天，", "晚上很黑，", "请尽快修理。"}

// The parts of one message posted to two instances alternately, in any
// order, with retries (the same id again, at either instance, also after
// the message was released, and another id for a part held already): one
// complete message, nothing incomplete, nothing left in the store.
func TestPartsOnTwoNodesMakeOneMessage(t *testing.T) {
	tests := []struct {
		name  string
		parts int
		posts []post
	}{
		{"in order", 3, []post{{0, 1, ""}, {1, 2, ""}, {0, 3, ""}}},
		{"reversed", 3, []post{{1, 3, ""}, {0, 2, ""}, {1, 1, ""}}},
		{"retry at the other node", 3, []post{{0, 2, ""}, {1, 2, ""}, {0, 1, ""}, {1, 3, ""}, {0, 3, ""}}},
		{"retry under another id", 4, []post{{1, 4, ""}, {0, 1, ""}, {1, 1, "again-1"}, {0, 3, ""}, {1, 2, ""}}},
		{"retries after the release", 4, []post{{0, 3, ""}, {1, 1, ""}, {0, 4, ""}, {1, 2, ""}, {0, 2, ""}, {1, 4, ""}}},
	}
	for _, st := range sharedStores {
		t.Run(st.name, func(t *testing.T) {
			open := st.start(t)
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					a, b := open(t)
					conv, _, nodes := twoNodes(t, a, b, time.Minute)
					number := fmt.Sprintf("+861390000%04d", i)
					texts := longTexts[:tt.parts]
					for _, p := range tt.posts {
						status, body := nodes[p.node].uplink(t, partOf(number, "7f", texts, p))
						require.Equal(t, 200, status, body)
					}
					got := conv.of(number)
					require.Len(t, got, 1, "one message")
					require.Equal(t, strings.Join(texts, ""), got[0].Text)
					require.Nil(t, got[0].Meta, "not marked incomplete")
					requireNothingWaits(t, a)
					require.Zero(t, nodes[0].Ch.Pending())
					require.Zero(t, nodes[1].Ch.Pending())
				})
			}
		})
	}
}

// Many messages at once, every part posted to both instances at the same
// time (a provider retry racing the first try): each message once, whole.
func TestPartsPostedToTwoNodesAtOnce(t *testing.T) {
	const messages = 10
	for _, st := range sharedStores {
		t.Run(st.name, func(t *testing.T) {
			open := st.start(t)
			a, b := open(t)
			conv, _, nodes := twoNodes(t, a, b, time.Minute)
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				refused []string
			)
			for m := range messages {
				number := fmt.Sprintf("+861370000%04d", m)
				for seq := 1; seq <= len(longTexts); seq++ {
					for node := range nodes {
						cb, err := smsfake.Uplink(smsformat.ProviderGeneric, nodes[node].auth(), partOf(number, "2a", longTexts, post{node: node, seq: seq}))
						require.NoError(t, err)
						wg.Add(1)
						go func() {
							defer wg.Done()
							if status, body := postCallback(nodes[node].URL+sms.PathInbound, cb); status != 200 {
								mu.Lock()
								refused = append(refused, fmt.Sprintf("%d %s", status, body))
								mu.Unlock()
							}
						}()
					}
				}
			}
			wg.Wait()
			require.Empty(t, refused)
			require.Equal(t, messages, conv.len())
			for m := range messages {
				got := conv.of(fmt.Sprintf("+861370000%04d", m))
				require.Len(t, got, 1)
				require.Equal(t, strings.Join(longTexts, ""), got[0].Text)
				require.Nil(t, got[0].Meta)
			}
			requireNothingWaits(t, a)
		})
	}
}

// A part that never comes, the others spread over two instances: after
// the wait exactly one message, marked incomplete, with the parts of both,
// also when the instance that received the first part has stopped (a dead
// gateway): the other releases it.
func TestIncompleteMessageFromTwoNodesReleasedOnce(t *testing.T) {
	const reassemblyWait = time.Minute
	tests := []struct {
		name      string
		stopFirst bool
	}{
		{"both running", false},
		{"first receiver stopped", true},
	}
	for _, st := range sharedStores {
		t.Run(st.name, func(t *testing.T) {
			open := st.start(t)
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					a, b := open(t)
					conv, clk, nodes := twoNodes(t, a, b, reassemblyWait)
					number := fmt.Sprintf("+861380000%04d", i)
					for _, p := range []post{{0, 1, ""}, {1, 2, ""}, {0, 4, ""}, {1, 2, ""}} { // part 3 missing; part 2 retried
						status, body := nodes[p.node].uplink(t, partOf(number, "c1", longTexts, p))
						require.Equal(t, 200, status, body)
					}
					require.Equal(t, 1, nodes[1].Ch.Pending())
					if tt.stopFirst {
						nodes[0].Stop()
					}
					clk.Advance(reassemblyWait - time.Second)
					require.Empty(t, conv.of(number), "nothing before the wait is over")

					clk.Advance(time.Second)
					require.Eventually(t, func() bool {
						return len(conv.of(number)) > 0 && bucketLen(t, a, "sms_parts")+bucketLen(t, a, "sms_ready") == 0
					}, wait, 5*time.Millisecond, "the incomplete message released")
					got := conv.of(number)
					require.Len(t, got, 1, "released once")
					require.Equal(t, longTexts[0]+longTexts[1]+longTexts[3], got[0].Text)
					require.Equal(t, map[string]string{"incomplete": "true", "missing_parts": "3"}, got[0].Meta)
					requireNothingWaits(t, a)
				})
			}
		})
	}
}

// postCallback sends a built callback; a transport error is status 0.
func postCallback(url string, cb smsfake.Callback) (int, string) {
	req, err := cb.Request(context.Background(), url)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
