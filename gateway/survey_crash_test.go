package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// kill -9 between the ticket event and the survey's send (held back by
// survey.delay) still sends exactly one survey, after the restart: the
// survey is recorded in the transaction that applies the ticket event, or
// the ticket event is consumed again.
func TestSurveyKilledBetweenTicketAndSend(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	t.Parallel()
	const smsSec, smsTok, phone = "sms-secret-0123456789", "sms-token-0123456789", "+8613812345678"
	api := smsfake.NewGeneric(t, smsSec, smsTok)
	defer api.Close()
	gw := gatewaytest.Start(t, gatewaytest.Options{Env: []string{
		"GATEWAY_CHANNELS_SMS_PROVIDER=generic", "GATEWAY_CHANNELS_SMS_TOKEN=" + smsTok, "GATEWAY_CHANNELS_SMS_SECRET=" + smsSec,
		"GATEWAY_CHANNELS_SMS_API_BASE=" + api.URL(), "GATEWAY_CHANNELS_SMS_SIGN_NAME=" + smsfake.SignatureName,
		"GATEWAY_SURVEY_BASE_URL=https://12345.example.cn", "GATEWAY_SURVEY_QUIET_HOURS=off", "GATEWAY_SURVEY_DELAY=8s"}})
	ctx := context.Background()

	cb, err := smsfake.Uplink("generic", smsfake.CallbackAuth{Secret: smsSec},
		smsformat.Inbound{ProviderID: "s1", Phone: phone, Text: "路灯坏了", SentAt: time.Now().Truncate(time.Second)})
	require.NoError(t, err)
	req, err := cb.Request(ctx, gw.URL("/v1/channels/sms/inbound"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	var id string
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		recs, err := gatewaytest.ConsumeE(ctx, kcat, gw.KafkaAddr, "intake.envelopes")
		if err != nil || len(recs) != 1 {
			return fmt.Errorf("want 1 envelope: %v", err)
		}
		var env struct{ ID string }
		if err := json.Unmarshal(recs[0].Value, &env); err != nil {
			return err
		}
		id = env.ID
		return nil
	})
	// The ticket system says resolved, through an independent client.
	ev := `{"schema":"ticket-event/v1","envelope_id":"` + id + `","status":"resolved","at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	produce := exec.CommandContext(ctx, kcat, "-P", "-b", gw.KafkaAddr, "-t", "ticket.events", "-k", id)
	produce.Stdin = strings.NewReader(ev + "\n")
	out, err := produce.CombinedOutput()
	require.NoError(t, err, string(out))
	sent := time.Now()
	// As soon as the ticket is applied (its ticket.updated is on Kafka), and
	// well before survey.delay, the process dies.
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		if n := countEvents(ctx, t, kcat, gw.KafkaAddr, "ticket.updated", id); n != 1 {
			return fmt.Errorf("%d ticket.updated", n)
		}
		return nil
	})
	gw.Kill()
	require.Less(t, time.Since(sent), 8*time.Second, "killed before the survey could be sent")
	require.Zero(t, surveySMS(api), "nothing sent before the kill")

	gw.Restart()
	gatewaytest.Eventually(t, 60*time.Second, func() error {
		if n := countEvents(ctx, t, kcat, gw.KafkaAddr, "survey.sent", id); n != 1 {
			return fmt.Errorf("%d survey.sent", n)
		}
		return nil
	})
	require.Equal(t, 1, surveySMS(api), "exactly one survey")
	// A clean restart sends nothing more.
	_, ok := gw.Stop(30 * time.Second)
	require.True(t, ok)
	gw.Restart()
	require.Equal(t, 1, countEvents(ctx, t, kcat, gw.KafkaAddr, "survey.sent", id))
	require.Equal(t, 1, surveySMS(api))
}

var surveyLink = regexp.MustCompile(`https://12345\.example\.cn/s/[A-Za-z0-9_-]{22}`)

func surveySMS(api *smsfake.Generic) int {
	n := 0
	for _, m := range api.Sent() {
		if surveyLink.MatchString(m.Text) {
			n++
		}
	}
	return n
}

// countEvents counts the events of one type about one envelope on intake.events.
func countEvents(ctx context.Context, t *testing.T, kcat, brokers, typ, envelopeID string) int {
	recs, err := gatewaytest.ConsumeE(ctx, kcat, brokers, "intake.events")
	require.NoError(t, err)
	n := 0
	for _, r := range recs {
		var ev struct{ Type string }
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		if dec.Decode(&ev) == nil && ev.Type == typ && strings.Contains(string(r.Value), `"envelope_id":"`+envelopeID+`"`) {
			n++
		}
	}
	return n
}
