package intakelog

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)
	for _, r := range []Record{
		{Topic: "intake.envelopes", Key: "k", Value: json.RawMessage(`{"id":"1","text":"路灯"}`), At: at,
			Headers: map[string]string{"schema": "envelope/v1", "channel": "web", "idempotency-key": "web:a"}},
		{Topic: "t", Value: json.RawMessage(`{}`), At: at},
		{Topic: "", Key: "", Value: nil, At: at, Headers: map[string]string{"": ""}},
	} {
		b := encodeRecord(&r)
		got, err := decodeRecord(b)
		require.NoError(t, err)
		if len(r.Headers) == 0 {
			r.Headers = nil
		}
		if len(r.Value) == 0 {
			r.Value = nil
			got.Value = nil
		}
		require.Equal(t, r, got)
		require.Equal(t, b, encodeRecord(&got), "deterministic")
	}
}

// Outboxes written by the first version (JSON records) are still relayed.
func TestRecordReadsLegacyJSON(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	legacy, err := json.Marshal(Record{Topic: "intake.events", Key: "k", Value: json.RawMessage(`{"a":1}`), At: at,
		Headers: map[string]string{"schema": "event/v1"}})
	require.NoError(t, err)
	r, err := decodeRecord(legacy)
	require.NoError(t, err)
	require.Equal(t, "intake.events", r.Topic)
	require.JSONEq(t, `{"a":1}`, string(r.Value))
	require.True(t, at.Equal(r.At))
}

func TestRecordRefusesGarbage(t *testing.T) {
	full := encodeRecord(&Record{Topic: "topic", Key: "key", Value: json.RawMessage(`{}`), At: time.Now(),
		Headers: map[string]string{"schema": "envelope/v1"}})
	for i := range len(full) - 2 { // every truncation before the value
		_, err := decodeRecord(full[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	for _, b := range [][]byte{nil, {0x02}, {recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		_, err := decodeRecord(b)
		require.Error(t, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(&Record{Topic: "t", Key: "k", Value: []byte(`{}`), Headers: map[string]string{"a": "b"}}))
	f.Add([]byte(`{"topic":"t","value":{}}`))
	f.Add([]byte{recordV1, 0x05, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if b[0] == recordV1 {
			again, err := decodeRecord(encodeRecord(&r))
			require.NoError(t, err)
			require.Equal(t, r.Topic, again.Topic)
			require.Equal(t, string(r.Value), string(again.Value))
		}
	})
}
