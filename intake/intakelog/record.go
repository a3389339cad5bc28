package intakelog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Outbox records are stored as JSON (Record's fields; the value, already
// JSON, embedded as is). An earlier release wrote a binary framing,
//
//	0x01 | uvarint len, topic | uvarint len, key | uvarint n, n × (uvarint len, name, uvarint len, value)
//	     | 8 bytes big-endian At (unix ns) | value
//
// which decodeRecord still reads, so that records it left unrelayed or
// within their retention survive an upgrade.
const recordV1 = 0x01

var errShortRecord = errors.New("truncated record")

// encodeRecord returns r's stored form (r.Seq is the key, not stored).
func encodeRecord(r *Record) ([]byte, error) {
	return json.Marshal(r)
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
