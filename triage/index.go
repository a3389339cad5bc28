package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/triage/repeat"
)

// The store keeps each request's print (no text) by envelope id, and the
// links between verified phones (salted hashes) and citizen keys. The
// index in memory is rebuilt from them at start: a look-up costs no disk
// read on the acknowledgement's path.
const (
	bucketPrints = "triage_prints"
	bucketPhones = "triage_phones"
)

// maxRepeats is the schema's bound on triage.repeat_of.
const maxRepeats = 20

type printRecord struct {
	Key   string       `json:"k"`
	At    int64        `json:"t"`
	Print repeat.Print `json:"p"`
}

type seen struct {
	id    string
	at    time.Time
	print repeat.Print
}

type index struct {
	mu          sync.RWMutex
	byKey       map[string][]seen   // citizen key → their requests, oldest first
	keysOfPhone map[string][]string // verified phone → citizen keys
	phonesOfKey map[string][]string // citizen key → verified phones
	adds        int                 // since the last sweep
}

// maxPerCitizen bounds the requests kept of one citizen key (the newest):
// a look-up compares a new request with each, and an app's batch account
// may file thousands a month.
const maxPerCitizen = 500

// sweepEvery is how many requests pass between sweeps of the citizens who
// did not come back: each sweep is one pass over the index.
const sweepEvery = 4096

// printPuts are the writes that keep a request's print, and the link of
// its verified phone, in the accepting transaction.
func printPuts(key, id string, at time.Time, p repeat.Print, phone string) []intakelog.Put {
	b, _ := json.Marshal(printRecord{Key: key, At: at.Unix(), Print: p}) // cannot fail: plain fields
	puts := []intakelog.Put{{Bucket: bucketPrints, Key: []byte(id), Value: b}}
	if phone != "" {
		puts = append(puts, intakelog.Put{Bucket: bucketPhones, Key: []byte(phone + "\x00" + key), Value: []byte{}})
	}
	return puts
}

// loadIndex reads the prints since cutoff and every phone link, and drops
// the older prints from the store.
func loadIndex(db *store.DB, cutoff time.Time) (*index, error) {
	idx := &index{byKey: map[string][]seen{}, keysOfPhone: map[string][]string{}, phonesOfKey: map[string][]string{}}
	var stale [][]byte
	err := db.View(func(tx *store.Tx) error {
		err := tx.Bucket([]byte(bucketPrints)).ForEach(func(k, v []byte) error {
			var r printRecord
			if json.Unmarshal(v, &r) != nil || time.Unix(r.At, 0).Before(cutoff) {
				stale = append(stale, slices.Clone(k))
				return nil
			}
			idx.byKey[r.Key] = append(idx.byKey[r.Key], seen{id: string(k), at: time.Unix(r.At, 0).UTC(), print: r.Print})
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketPhones)).ForEach(func(k, _ []byte) error {
			phone, key, _ := strings.Cut(string(k), "\x00")
			idx.link(phone, key)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("triage: cannot load the recent requests: %w", err)
	}
	if len(stale) > 0 {
		err = db.Update(context.Background(), func(tx *store.Tx) error {
			b := tx.Bucket([]byte(bucketPrints))
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, list := range idx.byKey { // ids are time-ordered; keep the lists oldest first
		slices.SortFunc(list, func(a, b seen) int { return a.at.Compare(b.at) })
	}
	return idx, err
}

// link records that phone was verified for key. Caller holds mu (or owns idx).
func (x *index) link(phone, key string) {
	if !slices.Contains(x.keysOfPhone[phone], key) {
		x.keysOfPhone[phone] = append(x.keysOfPhone[phone], key)
	}
	if !slices.Contains(x.phonesOfKey[key], phone) {
		x.phonesOfKey[key] = append(x.phonesOfKey[key], phone)
	}
}

// add makes a request known, forgetting the citizen's requests older than
// cutoff.
func (x *index) add(key string, s seen, phone string, cutoff time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	list := x.byKey[key]
	for len(list) > 0 && (list[0].at.Before(cutoff) || len(list) >= maxPerCitizen) {
		list = list[1:]
	}
	x.byKey[key] = append(list, s)
	if phone != "" {
		x.link(phone, key)
	}
	if x.adds++; x.adds >= sweepEvery {
		x.adds = 0
		x.sweep(cutoff)
	}
}

// sweep forgets the requests older than cutoff of every citizen, so that
// the index holds one window of requests however long the process runs.
// (Their prints leave the store at the next start.) Caller holds mu.
func (x *index) sweep(cutoff time.Time) {
	for key, list := range x.byKey {
		i := 0
		for i < len(list) && list[i].at.Before(cutoff) {
			i++
		}
		switch {
		case i == len(list):
			delete(x.byKey, key)
		case i > 0:
			x.byKey[key] = slices.Clone(list[i:])
		}
	}
}

// repeats returns the ids of the citizen's requests since cutoff about the
// same matter, newest first: the citizen is their key and every key a
// phone verified for either links to.
func (x *index) repeats(env *normalize.Envelope, p repeat.Print, phone string, cutoff time.Time) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	keys := []string{env.CitizenKey}
	phones := slices.Clone(x.phonesOfKey[env.CitizenKey])
	if phone != "" {
		phones = append(phones, phone)
	}
	for _, ph := range phones {
		for _, k := range x.keysOfPhone[ph] {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	var found []seen
	for _, k := range keys {
		for _, s := range x.byKey[k] {
			if s.id != env.ID && !s.at.Before(cutoff) && repeat.Same(p, s.print) {
				found = append(found, s)
			}
		}
	}
	slices.SortFunc(found, func(a, b seen) int { return b.at.Compare(a.at) })
	ids := make([]string, 0, min(len(found), maxRepeats))
	for _, s := range found[:min(len(found), maxRepeats)] {
		ids = append(ids, s.id)
	}
	return ids
}

// requests returns the ids of every request the index holds of the citizen
// key and of the keys a phone verified for it links to, newest first.
func (x *index) requests(key string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	keys := []string{key}
	for _, ph := range x.phonesOfKey[key] {
		for _, k := range x.keysOfPhone[ph] {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	var found []seen
	for _, k := range keys {
		found = append(found, x.byKey[k]...)
	}
	slices.SortFunc(found, func(a, b seen) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	ids := make([]string, len(found))
	for i, s := range found {
		ids[i] = s.id
	}
	return ids
}
