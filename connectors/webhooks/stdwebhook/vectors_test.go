package stdwebhook_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadVector reads one published vector from ../shared/testdata/vectors.json
// (beside the module root). Without ../shared it falls back to the copy in
// testdata/, except under CI, where a missing shared file is a failure.
// When both exist they must agree, so the copy cannot drift.
func loadVector(t *testing.T, name string, dst any) {
	t.Helper()
	local := readVector(t, filepath.Join("testdata", "vectors.json"), name)
	require.NotNil(t, local, "testdata/vectors.json lacks %q", name)

	shared := sharedVectorsPath(t)
	raw, err := os.ReadFile(shared)
	switch {
	case errors.Is(err, fs.ErrNotExist) && os.Getenv("CI") != "":
		t.Fatalf("CI is set but %s is missing", shared)
	case errors.Is(err, fs.ErrNotExist):
		t.Logf("%s absent; using testdata copy", shared)
		require.NoError(t, json.Unmarshal(local, dst))
		return
	default:
		require.NoError(t, err)
	}
	var all map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &all))
	v, ok := all[name]
	require.True(t, ok, "%s lacks vector %q", shared, name)
	require.JSONEq(t, string(v), string(local), "testdata copy of %q differs from %s", name, shared)
	require.NoError(t, json.Unmarshal(v, dst))
}

func readVector(t *testing.T, path, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var all map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &all))
	return all[name]
}

// sharedVectorsPath walks up from the package directory to go.mod and
// returns ../shared/testdata/vectors.json relative to the module root.
func sharedVectorsPath(t *testing.T) string {
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
