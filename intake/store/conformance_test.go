package store_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/intake/store/storetest"
)

// TestConformance runs the store's contract against the bbolt engine, with
// the default group commit and with one Update per commit.
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		opts store.Options
	}{
		{"bbolt", store.Options{}},
		{"bbolt MaxBatch 1", store.Options{MaxBatch: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			storetest.Run(t, func(t *testing.T, name string) *store.DB {
				db, err := store.Open(filepath.Join(dir, name+".db"), c.opts)
				require.NoError(t, err)
				return db
			}, storetest.Features{GapFreeSequences: true})
		})
	}
}
