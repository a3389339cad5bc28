package buildinfo_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/buildinfo"
)

func TestRead(t *testing.T) {
	i := buildinfo.Read()
	require.Equal(t, runtime.Version(), i.GoVersion, "a test binary records its toolchain")
	require.NotEmpty(t, i.Version)
	require.NotEmpty(t, i.Revision)
	require.True(t, strings.HasPrefix(i.String(), "gateway "+i.Version+" (commit "), i.String())
}
