package gateway_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// /v1/schemas/{name} serves the contract's schema files byte for byte
// (normalize/schemas_test.go keeps those equal to ../shared/contract).
func TestSchemasAreServed(t *testing.T) {
	g, _ := newGateway(t, nil)
	for _, name := range []string{"envelope", "event", "ticket-event"} {
		want, err := os.ReadFile("../normalize/schemas/" + name + ".schema.json")
		require.NoError(t, err)
		for _, path := range []string{name, name + ".schema.json", name + ".json"} {
			w := call(g, http.MethodGet, "/v1/schemas/"+path, nil, nil, "")
			require.Equal(t, http.StatusOK, w.Code, path)
			require.Equal(t, "application/schema+json", w.Header().Get("Content-Type"))
			require.Equal(t, string(want), w.Body.String(), path)
		}
	}
	requireError(t, call(g, http.MethodGet, "/v1/schemas/nope", nil, nil, ""), http.StatusNotFound, "not_found", nil)
}
