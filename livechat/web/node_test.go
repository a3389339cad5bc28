package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// nodePath finds Node.js: skipped locally without it, fatal on CI (as
// chromePath does for Chromium).
func nodePath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("node"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("node is required on CI for the console's unit tests")
	}
	t.Skip("node not installed: the console's unit tests skipped")
	return ""
}

// TestConsoleUnit runs the unit tests of the console's pure logic
// (formatting, countdowns, request numbers, canned-reply matching and
// placeholders, the history search's query, alert settings):
// testdata/console/*.test.mjs with node --test.
func TestConsoleUnit(t *testing.T) {
	node := nodePath(t)
	files, err := filepath.Glob(filepath.Join("testdata", "console", "*.test.mjs"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "node --test:\n%s", out)
	t.Logf("node --test:\n%s", out)
}
