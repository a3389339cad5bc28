package intakelog

import (
	"encoding/binary"
	"encoding/json"
	"sort"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)
	for _, r := range []Record{
		{Topic: "intake.envelopes", Key: "k", Value: json.RawMessage(`{"id":"1","text":"路灯"}`), At: at,
			Headers: map[string]string{"schema": "envelope/v1", "channel": "web", "idempotency-key": "web:a"}},
		{Topic: "t", Value: json.RawMessage(`{}`), At: at},
	} {
		b, err := encodeRecord(&r)
		require.NoError(t, err)
		got, err := decodeRecord(b)
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
}

// legacyV1 writes a record in the binary framing of the earlier release.
func legacyV1(r *Record) []byte {
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	b := str(str([]byte{recordV1}, r.Topic), r.Key)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b = str(str(b, k), r.Headers[k])
	}
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixNano()))
	return append(b, r.Value...)
}

// Outboxes an earlier release wrote in its binary framing are still relayed.
func TestRecordReadsTheEarlierBinaryFraming(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)
	want := Record{Topic: "intake.events", Key: "k", Value: json.RawMessage(`{"a":1}`), At: at,
		Headers: map[string]string{"schema": "event/v1", "channel": "web"}}
	got, err := decodeRecord(legacyV1(&want))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestRecordRefusesGarbage(t *testing.T) {
	r := &Record{Topic: "topic", Key: "key", Value: json.RawMessage(`{}`), At: time.Now(), Headers: map[string]string{"schema": "envelope/v1"}}
	full, err := encodeRecord(r)
	require.NoError(t, err)
	for i := range len(full) - 1 {
		_, err := decodeRecord(full[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	old := legacyV1(r)
	for i := range len(old) - 2 { // every truncation before the value
		_, err := decodeRecord(old[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	for _, b := range [][]byte{nil, {0x02}, {recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		_, err := decodeRecord(b)
		require.Error(t, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	seed, _ := encodeRecord(&Record{Topic: "t", Key: "k", Value: []byte(`{}`), Headers: map[string]string{"a": "b"}})
	f.Add(seed)
	f.Add(legacyV1(&Record{Topic: "t", Key: "k", Value: []byte(`{}`), Headers: map[string]string{"a": "b"}}))
	f.Add([]byte{recordV1, 0x05, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		// Topics and keys the gateway writes are UTF-8 (JSON would replace
		// anything else); values are JSON.
		if err != nil || !json.Valid(r.Value) || !utf8.ValidString(r.Topic) || !utf8.ValidString(r.Key) {
			return
		}
		// What was read is written back as JSON and reads the same.
		enc, err := encodeRecord(&r)
		require.NoError(t, err)
		again, err := decodeRecord(enc)
		require.NoError(t, err)
		require.Equal(t, r.Topic, again.Topic)
		require.Equal(t, r.Key, again.Key)
		require.True(t, r.At.Equal(again.At))
	})
}
