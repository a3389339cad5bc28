package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// The parts of one long SMS posted to different nodes (issue 18, test 7;
// §8.6), on one cluster with channels.sms.reassembly_wait 10 s:
//
//   - 20 messages of 3 parts at once, the parts of each on the three nodes
//     in turn, reached directly, part 1 of each retried by the provider at
//     another node: each message makes exactly one envelope on
//     intake.envelopes with the whole text, and one citizen message on
//     intake.events, not marked incomplete;
//   - 10 messages of 4 parts whose part 3 never comes, parts 1 on node-1
//     (then killed with SIGKILL before the wait is over), 2 on node-2 and 4
//     on node-3: each is released once, by a surviving node, with the
//     parts of all three, marked incomplete with part 3 missing.
//
// Afterwards no part or message is left in the shared store for a node to
// release later.
func TestClusterJoinsLongSMSPostedToDifferentNodes(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	const smsSec, smsTok = "sms-secret-0123456789", "sms-token-0123456789"
	api := smsfake.NewGeneric(t, smsSec, smsTok)
	defer api.Close()
	env := append(slices.Clone(clusterEnv),
		"GATEWAY_CHANNELS_SMS_PROVIDER=generic", "GATEWAY_CHANNELS_SMS_TOKEN="+smsTok, "GATEWAY_CHANNELS_SMS_SECRET="+smsSec,
		"GATEWAY_CHANNELS_SMS_API_BASE="+api.URL(), "GATEWAY_CHANNELS_SMS_SIGN_NAME="+smsfake.SignatureName,
		"GATEWAY_CHANNELS_SMS_REASSEMBLY_WAIT=10s")
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: env})
	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.Postgres().PrimaryDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	sentAt := time.Now().Add(-time.Minute).Truncate(time.Second)

	tests := []struct {
		name     string
		messages int
		parts    []string
		missing  int // the part that never comes (0: none)
		// nodes are the nodes part s goes to for message m: the first
		// gets it, the others get the provider's retries.
		nodes func(m, s int) []int
		kill  int // the node killed once every part is posted (0: none)
	}{
		{name: "20 messages of 3 parts spread over 3 nodes", messages: 20,
			parts: []string{"小区门口的井盖", "丢了两天，晚上很危险，", "请尽快派人处理。"},
			nodes: func(m, s int) []int {
				if s == 1 {
					return []int{(m+s)%3 + 1, (m+s+1)%3 + 1}
				}
				return []int{(m+s)%3 + 1}
			}},
		{name: "part 3 missing, first parts on a node that dies", messages: 10,
			parts: []string{"公园的健身器材", "螺丝松了，", "孩子玩的时候", "差点受伤。"}, missing: 3,
			nodes: func(_, s int) []int {
				switch s {
				case 1:
					return []int{1, 2}
				case 2:
					return []int{2}
				default:
					return []int{3}
				}
			}, kill: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type callback struct {
				node int
				in   smsformat.Inbound
			}
			var callbacks []callback
			want := map[string]string{} // number → the text released
			for m := range tt.messages {
				number := fmt.Sprintf("+86135%02d%06d", i, m)
				for s, text := range tt.parts {
					if s+1 == tt.missing {
						continue
					}
					want[number] += text
					in := smsformat.Inbound{ProviderID: fmt.Sprintf("long-%d-%d-%d", i, m, s+1), Phone: number, Text: text,
						SentAt: sentAt, DestCode: "12345", Part: &smsformat.Part{Ref: "3c", Total: len(tt.parts), Seq: s + 1}}
					for _, node := range tt.nodes(m, s+1) {
						callbacks = append(callbacks, callback{node: node, in: in})
					}
				}
			}
			answers := make([]string, len(callbacks))
			var wg sync.WaitGroup
			for i, cb := range callbacks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i] = postUplink(ctx, c.Node(cb.node).URL(sms.PathInbound), smsSec, cb.in)
				}()
			}
			wg.Wait()
			for i, a := range answers {
				require.Equal(t, "200", a, "callback %d to node-%d", i, callbacks[i].node)
			}
			if tt.kill > 0 {
				c.Node(tt.kill).Kill()
			}

			// Nothing waits in the store any more, so no node can release
			// anything later; what was handed over is on Kafka.
			gatewaytest.Eventually(t, 90*time.Second, func() error {
				var n int
				if err := db.QueryRow(ctx, `SELECT count(*) FROM gateway_kv WHERE bucket IN ('sms_parts', 'sms_ready')`).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					return fmt.Errorf("%d parts or messages still in the store", n)
				}
				return nil
			})
			requireRelayed(t, c)

			envs, err := smsEnvelopes(ctx, kcat, c.KafkaAddr())
			require.NoError(t, err)
			msgs, err := smsCitizenMessages(ctx, kcat, c.KafkaAddr())
			require.NoError(t, err)
			wantMeta := map[string]string(nil)
			if tt.missing > 0 {
				wantMeta = map[string]string{"incomplete": "true", "missing_parts": fmt.Sprint(tt.missing)}
			}
			for number, text := range want {
				var mine []smsEnvelope
				for _, e := range envs {
					if e.Citizen.Phone == number {
						mine = append(mine, e)
					}
				}
				require.Len(t, mine, 1, "%s: one envelope", number)
				require.Equal(t, text, mine[0].Content.Text, "%s: the message", number)
				got := msgs[mine[0].ID]
				require.Len(t, got, 1, "%s: one citizen message", number)
				require.Equal(t, text, got[0].Data.Text)
				require.Equal(t, wantMeta, got[0].Data.Meta, "%s: marked incomplete only with a part missing", number)
			}
		})
	}
}

// postUplink posts one generic uplink callback, signed, to url and returns
// the status (or the error).
func postUplink(ctx context.Context, url, secret string, in smsformat.Inbound) string {
	cb, err := smsfake.Uplink(smsformat.ProviderGeneric, smsfake.CallbackAuth{Secret: secret, Now: time.Now()}, in)
	if err != nil {
		return err.Error()
	}
	req, err := cb.Request(ctx, url)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	return "200"
}

// smsEnvelope is what this test reads of an envelope.
type smsEnvelope struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Citizen struct {
		Phone string `json:"phone"`
	} `json:"citizen"`
	Content struct {
		Text string `json:"text"`
	} `json:"content"`
}

// smsEnvelopes returns the envelopes of channel sms on intake.envelopes by
// id (a relay handover may publish one twice under its id).
func smsEnvelopes(ctx context.Context, kcat, brokers string) (map[string]smsEnvelope, error) {
	recs, err := gatewaytest.ConsumeE(ctx, kcat, brokers, "intake.envelopes")
	if err != nil {
		return nil, err
	}
	out := map[string]smsEnvelope{}
	for _, r := range recs {
		var e smsEnvelope
		if err := json.Unmarshal(r.Value, &e); err != nil {
			return nil, err
		}
		if e.Channel == "sms" {
			out[e.ID] = e
		}
	}
	return out, nil
}

// smsMessageEvent is what this test reads of a message.citizen event.
type smsMessageEvent struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	EnvelopeID string `json:"envelope_id"`
	Data       struct {
		From string            `json:"from"`
		Text string            `json:"text"`
		Meta map[string]string `json:"meta"`
	} `json:"data"`
}

// smsCitizenMessages returns the citizens' messages on intake.events by
// envelope, each event once by its id.
func smsCitizenMessages(ctx context.Context, kcat, brokers string) (map[string][]smsMessageEvent, error) {
	recs, err := gatewaytest.ConsumeE(ctx, kcat, brokers, "intake.events")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := map[string][]smsMessageEvent{}
	for _, r := range recs {
		var e smsMessageEvent
		if err := json.Unmarshal(r.Value, &e); err != nil {
			return nil, err
		}
		if e.Type != "message.citizen" || e.Data.From != "citizen" || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		out[e.EnvelopeID] = append(out[e.EnvelopeID], e)
	}
	return out, nil
}

// A call of a node's component to live chat waits while the chat home is
// replaced (issue 19): an SMS posted to a relaying node just after the home
// was killed is answered 200 once another node runs chat, not refused, and
// becomes its request.
func TestClusterSMSWaitsForTheChatHome(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	const smsSec, smsTok = "sms-secret-0123456789", "sms-token-0123456789"
	api := smsfake.NewGeneric(t, smsSec, smsTok)
	defer api.Close()
	c := startChatCluster(t, "ag1:pw-ag1:general:2",
		"GATEWAY_CHANNELS_SMS_PROVIDER=generic", "GATEWAY_CHANNELS_SMS_TOKEN="+smsTok, "GATEWAY_CHANNELS_SMS_SECRET="+smsSec,
		"GATEWAY_CHANNELS_SMS_API_BASE="+api.URL(), "GATEWAY_CHANNELS_SMS_SIGN_NAME="+smsfake.SignatureName)
	ctx := context.Background()
	home := c.home(1)
	node := c.others(home)[0]

	c.Node(home).Kill()
	killed := time.Now()
	in := smsformat.Inbound{Phone: "+8613800138000", Text: "路灯坏了，在人民路", SentAt: time.Now().Add(-time.Second).Truncate(time.Second), ProviderID: "sms-while-moving"}
	require.Equal(t, "200", postUplink(ctx, c.Node(node).URL(sms.PathInbound), smsSec, in))
	t.Logf("answered %v after the home was killed", time.Since(killed).Round(time.Millisecond))
	require.NotEqual(t, home, c.home(node))
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		envs, err := smsEnvelopes(ctx, kcat, c.KafkaAddr())
		if err != nil {
			return err
		}
		if len(envs) != 1 {
			return fmt.Errorf("%d sms envelopes", len(envs))
		}
		return nil
	})
}
