package procs

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		envSet bool
		extra  int
		want   int
	}{
		{"adds to the default", false, 2, 6},
		{"GOMAXPROCS set: untouched", true, 2, 4},
		{"nothing to add", false, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 4
			set := func(v int) int {
				old := n
				if v > 0 {
					n = v
				}
				return old
			}
			require.Equal(t, tc.want, add(tc.envSet, tc.extra, set))
			require.Equal(t, tc.want, n)
		})
	}
}

func TestAddForBlocking(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	t.Setenv("GOMAXPROCS", "")
	require.Equal(t, old+2, AddForBlocking(2))
	require.Equal(t, old+2, runtime.GOMAXPROCS(0))
}
