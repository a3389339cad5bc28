package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
)

// testPutIfAbsent: PutIfAbsent stores into a missing key only and otherwise
// answers the key's value, whether committed, written earlier in the same
// transaction, or stored by an earlier PutIfAbsent; a key deleted in the
// transaction is missing; a failing function's PutIfAbsent is rolled back.
func testPutIfAbsent(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error {
		a := bucket(tx, bucketA)
		return errors.Join(a.Put([]byte("committed"), []byte("c")), a.Put([]byte("deleted"), []byte("d")))
	})
	type answer struct {
		key, existing string
		stored        bool // PutIfAbsent returned nil
	}
	var got []answer
	var afterInsert, listed []string
	update(t, db, func(tx *store.Tx) error {
		a := bucket(tx, bucketA)
		claim := func(key, value string) error {
			v, err := a.PutIfAbsent([]byte(key), []byte(value))
			got = append(got, answer{key, string(v), v == nil})
			return err
		}
		if err := claim("new", "n1"); err != nil {
			return err
		}
		afterInsert = append(afterInsert, string(a.Get([]byte("new"))))
		if err := a.Put([]byte("put"), []byte("p")); err != nil {
			return err
		}
		if err := a.Delete([]byte("deleted")); err != nil {
			return err
		}
		for _, c := range [][2]string{{"new", "n2"}, {"put", "x"}, {"committed", "x"}, {"deleted", "d2"}, {"empty", ""}} {
			if err := claim(c[0], c[1]); err != nil {
				return err
			}
		}
		afterInsert = append(afterInsert, string(a.Get([]byte("deleted"))))
		return a.ForEach(func(k, v []byte) error { listed = append(listed, string(k)+"="+string(v)); return nil })
	})
	require.Equal(t, []answer{{"new", "", true}, {"new", "n1", false}, {"put", "p", false}, {"committed", "c", false},
		{"deleted", "", true}, {"empty", "", true}}, got)
	require.Equal(t, []string{"n1", "d2"}, afterInsert, "Get sees what PutIfAbsent stored")
	want := map[string]string{"committed": "c", "deleted": "d2", "empty": "", "new": "n1", "put": "p"}
	require.Equal(t, []string{"committed=c", "deleted=d2", "empty=", "new=n1", "put=p"}, listed, "ForEach sees it too")
	require.Equal(t, want, contents(t, db, bucketA))

	var empty []byte
	update(t, db, func(tx *store.Tx) error {
		var err error
		empty, err = bucket(tx, bucketA).PutIfAbsent([]byte("empty"), []byte("x"))
		return err
	})
	require.Equal(t, []byte{}, empty, "a stored empty value is present")

	err := db.Update(context.Background(), func(tx *store.Tx) error {
		if _, err := bucket(tx, bucketA).PutIfAbsent([]byte("rolled back"), []byte("v")); err != nil {
			return err
		}
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	require.Equal(t, want, contents(t, db, bucketA), "a failing function's PutIfAbsent is rolled back")
}

// testPutIfAbsentConcurrent: callers claiming the same keys at once, each
// in its own Update (so that many share a group, and on PostgreSQL some
// groups are rerun): per key exactly one stores, and every other caller
// gets the value that one stored.
func testPutIfAbsentConcurrent(t *testing.T, s *suite) {
	db := s.db(t)
	const callers, keys = 32, 8
	existing := make([][keys]string, callers)
	for _, err := range run(callers, func(c int) error {
		for k := range keys {
			key := []byte(fmt.Sprintf("key-%d", (k+c)%keys)) // callers claim the keys in different orders
			if err := db.Update(context.Background(), func(tx *store.Tx) error {
				v, err := bucket(tx, bucketA).PutIfAbsent(key, []byte(fmt.Sprintf("caller-%d", c)))
				existing[c][(k+c)%keys] = string(v)
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	}) {
		require.NoError(t, err)
	}
	stored := contents(t, db, bucketA)
	require.Len(t, stored, keys)
	for k := range keys {
		winner := stored[fmt.Sprintf("key-%d", k)]
		stores := 0
		for c := range callers {
			switch existing[c][k] {
			case "":
				stores++
				require.Equal(t, fmt.Sprintf("caller-%d", c), winner, "key-%d: the caller that stored", k)
			default:
				require.Equal(t, winner, existing[c][k], "key-%d: caller %d got the stored value", k, c)
			}
		}
		require.Equal(t, 1, stores, "key-%d: one caller stores", k)
	}
}
