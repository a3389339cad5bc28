package pgtest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewestFirst(t *testing.T) {
	dirs := []string{
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/16/bin",
		"/usr/lib/postgresql/old/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/17/bin",
	}
	require.Equal(t, []string{
		"/usr/lib/postgresql/17/bin",
		"/usr/lib/postgresql/16/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/old/bin",
	}, newestFirst(dirs))
}
