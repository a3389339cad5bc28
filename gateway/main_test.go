package gateway_test

import (
	"os"
	"testing"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// The integration tests share one gateway binary, built on first use.
func TestMain(m *testing.M) { os.Exit(gatewaytest.Main(m)) }
