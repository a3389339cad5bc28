package gateway_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// `gateway version` names the build; `gateway healthcheck` (a container's
// HEALTHCHECK: distroless has no curl) succeeds against a running gateway
// and fails against none; /metrics carries gateway_build_info.
func TestSubcommands(t *testing.T) {
	bin := gatewaytest.Binary(t)
	out, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), "gateway "), "%s", out)
	require.Contains(t, string(out), "commit ")

	p := gatewaytest.Start(t, gatewaytest.Options{})
	health := func(addr string) error {
		cmd := exec.Command(bin, "healthcheck")
		cmd.Env = append(os.Environ(), "GATEWAY_HTTP_ADDR="+addr)
		return cmd.Run()
	}
	require.NoError(t, health(p.HTTPAddr))
	require.Error(t, health(gatewaytest.FreeAddr(t)), "nothing listens there")

	resp, err := http.Get(p.URL("/metrics"))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^gateway_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1$`, string(body))
}
