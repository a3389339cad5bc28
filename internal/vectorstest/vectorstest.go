// Package vectorstest gives tests the published protocol vectors of
// ../shared/testdata/vectors.json (WeChat, Standard Webhooks, TURN REST).
// A copy is embedded so that tests run without ../shared; when the shared
// file is present the two must agree, and under CI it must be present.
package vectorstest

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

//go:embed vectors.json
var copyJSON []byte

// Load decodes the vector called name into dst.
func Load(t testing.TB, name string, dst any) {
	t.Helper()
	var local map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(copyJSON, &local))
	want, ok := local[name]
	require.True(t, ok, "the embedded copy lacks vector %q", name)

	shared := sharedPath(t)
	raw, err := os.ReadFile(shared)
	switch {
	case errors.Is(err, fs.ErrNotExist) && os.Getenv("CI") != "":
		t.Fatalf("CI is set but %s is missing", shared)
	case errors.Is(err, fs.ErrNotExist):
		t.Logf("%s absent; using the embedded copy", shared)
		require.NoError(t, json.Unmarshal(want, dst))
		return
	default:
		require.NoError(t, err)
	}
	var all map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &all))
	v, ok := all[name]
	require.True(t, ok, "%s lacks vector %q", shared, name)
	require.JSONEq(t, string(v), string(want), "the embedded copy of %q differs from %s", name, shared)
	require.NoError(t, json.Unmarshal(v, dst))
}

// sharedPath walks up from the test's directory to go.mod and returns
// ../shared/testdata/vectors.json beside the module root.
func sharedPath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "testdata", "vectors.json")
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found above the package")
		dir = parent
	}
}
