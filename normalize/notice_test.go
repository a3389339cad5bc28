package normalize_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize"
)

// The notice says the request went to the emergency centre only when it did.
func TestNoticeFor(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		triage *normalize.Triage
		want   string
	}{
		{"nothing noticed", nil, ""},
		{"a repeat", &normalize.Triage{RepeatOf: []string{"x"}}, ""},
		{"an emergency not handed off", &normalize.Triage{Priority: normalize.PriorityEmergency,
			Emergency: &normalize.Emergency{Category: "fire"}}, normalize.EmergencyNotice},
		{"an emergency handed off", &normalize.Triage{Priority: normalize.PriorityEmergency,
			Emergency: &normalize.Emergency{Category: "fire", HandedOffAt: &at}}, normalize.HandedOffNotice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, normalize.NoticeFor(&normalize.Envelope{Triage: tc.triage}))
		})
	}
	require.NotContains(t, normalize.EmergencyNotice, "emergency centre")
	require.Contains(t, normalize.HandedOffNotice, "emergency centre")
}
