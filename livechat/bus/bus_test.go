package bus_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat/bus"
)

func TestValidSubject(t *testing.T) {
	tests := []struct {
		subject string
		ok      bool
	}{
		{"chat", true},
		{"chat.session.0b6f-4c1e_X", true},
		{strings.Repeat("x", bus.MaxSubjectLen), true},
		{strings.Repeat("x", bus.MaxSubjectLen+1), false},
		{"", false},
		{".", false},
		{"a..b", false},
		{".a", false},
		{"a.", false},
		{"a.*", false},
		{"a.>", false},
		{"a b", false},
		{"a\x00b", false},
		{"chat.会话", false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			require.Equal(t, tt.ok, bus.ValidSubject(tt.subject))
		})
	}
}
