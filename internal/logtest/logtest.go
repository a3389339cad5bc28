// Package logtest captures a component's JSON log (log/slog) for the tests
// that assert its audit lines, and the absence of what must never be logged.
package logtest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Buffer is a log destination that goroutines may write while a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger is a JSON logger writing to l.
func (l *Buffer) Logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// Lines returns the decoded records whose msg is one of msgs, in order.
func (l *Buffer) Lines(t testing.TB, msgs ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m), "%s", s)
		if msg, _ := m["msg"].(string); slices.Contains(msgs, msg) {
			out = append(out, m)
		}
	}
	return out
}
