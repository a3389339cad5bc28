package gateway_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// A node started in cluster mode (store.url) without kafka.brokers or
// auth.token_secret refuses to start and names the missing key (contract §8).
func TestClusterModeRefusesToStartWithoutSharedSettings(t *testing.T) {
	bin := gatewaytest.Binary(t)
	const storeURL = "GATEWAY_STORE_URL=postgres://gw@127.0.0.1:1,127.0.0.1:2/gateway?target_session_attrs=read-write"
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"neither", []string{storeURL}, []string{"kafka.brokers: required in cluster mode", "auth.token_secret: required in cluster mode"}},
		{"no token secret", []string{storeURL, "GATEWAY_KAFKA_BROKERS=127.0.0.1:1"}, []string{"auth.token_secret: required in cluster mode"}},
		{"no brokers", []string{storeURL, "GATEWAY_AUTH_TOKEN_SECRET=0123456789abcdef0123"}, []string{"kafka.brokers: required in cluster mode"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GATEWAY_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, append(tc.env, "GATEWAY_DATA_DIR="+t.TempDir(), "GATEWAY_HTTP_ADDR="+gatewaytest.FreeAddr(t))...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the node must refuse to start: %s", out)
			for _, w := range tc.want {
				require.Contains(t, string(out), w)
			}
			require.NotContains(t, string(out), "gateway listening")
		})
	}
}
