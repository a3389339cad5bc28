package loginguard_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12345/gateway/auth/loginguard"
)

// TestHelperWorker is not a test: run as a child with GATEWAY_TEST_WORKER=1,
// it is the bcrypt worker process (os/exec's helper-process pattern).
func TestHelperWorker(t *testing.T) {
	switch os.Getenv("GATEWAY_TEST_WORKER") {
	case "1":
	case "hang": // a child that never answers: a machine with no CPU to spare
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	default:
		t.Skip("the worker's child process, not a test")
	}
	if err := loginguard.ServeWorker(os.Stdin, os.Stdout); err != nil {
		os.Exit(2)
	}
	os.Exit(0)
}

func workerCommand(t *testing.T) []string {
	t.Setenv("GATEWAY_TEST_WORKER", "1") // the child inherits it
	return []string{os.Args[0], "-test.run=^TestHelperWorker$"}
}

func TestWorkerComparesInAChildProcess(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	require.NoError(t, err)
	var logs bytes.Buffer
	w := loginguard.NewWorker(slog.New(slog.NewJSONHandler(&logs, nil)), workerCommand(t)...)
	defer w.Close()
	tests := []struct {
		password string
		want     bool
	}{{"right", true}, {"wrong", false}, {"", false}, {"right", true}}
	for _, tc := range tests {
		require.Equal(t, tc.want, w.Compare(hash, []byte(tc.password)), tc.password)
	}
	require.Empty(t, logs.String(), "no fallback: the child answered")

	// Closed: the comparison still answers, in the gateway.
	require.NoError(t, w.Close())
	require.True(t, w.Compare(hash, []byte("right")))
	require.Empty(t, logs.String())
}

// A worker that cannot start does not refuse logins: the gateway compares
// itself and says so in the log.
func TestWorkerFallsBack(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	require.NoError(t, err)
	var logs bytes.Buffer
	w := loginguard.NewWorker(slog.New(slog.NewJSONHandler(&logs, nil)), "/nonexistent/gateway", loginguard.WorkerArg)
	require.True(t, w.Compare(hash, []byte("right")))
	require.False(t, w.Compare(hash, []byte("wrong")))
	require.Contains(t, logs.String(), "bcrypt worker failed")
	require.NotContains(t, logs.String(), "right", "never the password")
}

func TestServeWorker(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	require.NoError(t, err)
	in := `{"hash":"` + b64(hash) + `","password":"` + b64([]byte("right")) + `"}` + "\n" +
		`{"hash":"` + b64(hash) + `","password":"` + b64([]byte("nope")) + `"}` + "\n"
	var out bytes.Buffer
	require.NoError(t, loginguard.ServeWorker(strings.NewReader(in), &out))
	require.Equal(t, "1\n0\n", out.String())
	require.Error(t, loginguard.ServeWorker(strings.NewReader("not json"), io.Discard))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// A child that does not answer in time leaves the comparison to the
// gateway: a login waits WorkerTimeout at most, and is answered.
func TestWorkerTimesOut(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	require.NoError(t, err)
	var logs bytes.Buffer
	t.Setenv("GATEWAY_TEST_WORKER", "hang")
	w := loginguard.NewWorker(slog.New(slog.NewJSONHandler(&logs, nil)), os.Args[0], "-test.run=^TestHelperWorker$")
	defer w.Close()
	require.True(t, w.Compare(hash, []byte("right")))
	require.Contains(t, logs.String(), "bcrypt worker failed")

	// After Close, comparisons run here and start no child.
	require.NoError(t, w.Close())
	logs.Reset()
	require.False(t, w.Compare(hash, []byte("wrong")))
	require.Empty(t, logs.String())
}
