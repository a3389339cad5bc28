package loginguard

import (
	"context"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
)

// TestCheckRunsAtLowestPriority: the password check runs on a thread of nice
// 19, and the request's own thread keeps its priority.
func TestCheckRunsAtLowestPriority(t *testing.T) {
	g := New(configs.Default().Auth.Login, Options{})
	nice := func() int {
		// The raw syscall answers 20 - nice.
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		require.NoError(t, err)
		return 20 - p
	}
	var during int
	require.NoError(t, g.Login(context.Background(), "li", "192.0.2.1", func() (bool, bool) { during = nice(); return true, true }))
	require.Equal(t, 19, during)
}
