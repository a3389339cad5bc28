package intakelog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Outbox records are stored in a small binary framing rather than JSON: the
// value (an envelope or event, already JSON) is kept as is at the end, so
// that neither writing nor relaying re-scans it. Every request writes one and
// the relay reads them all, so this is on the hot path twice.
//
//	0x01 | uvarint len, topic | uvarint len, key | uvarint n, n × (uvarint len, name, uvarint len, value)
//	     | 8 bytes big-endian At (unix ns) | value
//
// Records written as JSON by earlier versions (first byte '{') are still read.
const recordV1 = 0x01

var errShortRecord = errors.New("truncated record")

// encodeRecord returns r's stored form (r.Seq is the key, not stored).
func encodeRecord(r *Record) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + len(r.Topic) + len(r.Key) + binary.MaxVarintLen64 + 8 + len(r.Value)
	for k, v := range r.Headers {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, recordV1)
	b = appendString(b, r.Topic)
	b = appendString(b, r.Key)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic bytes for equal records
	for _, k := range names {
		b = appendString(b, k)
		b = appendString(b, r.Headers[k])
	}
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixNano()))
	return append(b, r.Value...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord parses a stored record. The result does not alias v (bbolt's
// memory is only valid inside the transaction).
func decodeRecord(v []byte) (Record, error) {
	var r Record
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &r)
		return r, err
	}
	if len(v) == 0 || v[0] != recordV1 {
		return r, errors.New("unknown record format")
	}
	d := decoder{b: v[1:]}
	r.Topic = d.string()
	r.Key = d.string()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return r, errShortRecord
		}
		r.Headers = make(map[string]string, n)
		for range n {
			k := d.string()
			r.Headers[k] = d.string()
		}
	}
	at := d.take(8)
	if d.err != nil {
		return r, d.err
	}
	r.At = time.Unix(0, int64(binary.BigEndian.Uint64(at))).UTC()
	r.Value = bytes.Clone(d.b)
	return r, nil
}

// recordAt reads only a stored record's time (compaction).
func recordAt(v []byte) (time.Time, error) {
	r, err := decodeRecord(v)
	return r.At, err
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errShortRecord
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = errShortRecord
		}
		return ""
	}
	return string(d.take(int(n)))
}

// corrupt wraps a decoding failure with the record's key.
func corrupt(k []byte, err error) error {
	return fmt.Errorf("intakelog: corrupt outbox record %x: %w", k, err)
}
