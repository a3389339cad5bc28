package gatewaytest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// The schema helper must refuse what the contract refuses, or the end-to-end
// tests would prove nothing.
func TestValidateSchema(t *testing.T) {
	good := `{"schema":"envelope/v1","id":"01a21c30-9a8f-7157-8fb1-fb42ae1287fa","idempotency_key":"web:a","channel":"web",
		"received_at":"2026-03-02T09:30:00Z","citizen_key":"k","citizen":{"channel_user_id":"u"},"content":{"text":"x"},
		"sla":{"first_response_due":"2026-03-02T09:33:00Z","handling_due":"2026-03-03T09:30:00Z"}}`
	require.NoError(t, gatewaytest.ValidateSchema("envelope", []byte(good)))
	for name, bad := range map[string]string{
		"extra member": `{"schema":"envelope/v1","extra":1}`,
		"bad date":     good[:len(good)-3] + `x"}}`,
		"not JSON":     `{`,
	} {
		require.Error(t, gatewaytest.ValidateSchema("envelope", []byte(bad)), name)
	}
	require.Error(t, gatewaytest.ValidateSchema("nope", []byte(good)))
}

func TestParseMetric(t *testing.T) {
	exp := "# HELP x\n" + `gateway_requests_total{channel="web",outcome="accepted"} 12` + "\ngateway_store_fsyncs_total 3.5e+06\n"
	v, err := gatewaytest.ParseMetric(exp, `gateway_requests_total{channel="web",outcome="accepted"}`)
	require.NoError(t, err)
	require.Equal(t, 12.0, v)
	v, err = gatewaytest.ParseMetric(exp, "gateway_store_fsyncs_total")
	require.NoError(t, err)
	require.Equal(t, 3.5e6, v)
	_, err = gatewaytest.ParseMetric(exp, "gateway_store")
	require.Error(t, err)
}

func TestEventuallyPolls(t *testing.T) {
	n := 0
	gatewaytest.Eventually(t, time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	require.Equal(t, 3, n)
}
