package triage

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The index holds one window of requests however long the process runs:
// citizens who never come back are forgotten by the sweeps.
func TestIndexForgetsCitizensWhoDoNotComeBack(t *testing.T) {
	x := &index{byKey: map[string][]seen{}, keysOfPhone: map[string][]string{}, phonesOfKey: map[string][]string{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	window := 30 * 24 * time.Hour
	for i := range 3 * sweepEvery { // one request an hour, each from a new citizen
		at := t0.Add(time.Duration(i) * time.Hour)
		x.add(fmt.Sprintf("c%d", i), seen{id: fmt.Sprint(i), at: at}, "", at.Add(-window))
	}
	last := t0.Add(time.Duration(3*sweepEvery-1) * time.Hour)
	require.LessOrEqual(t, len(x.byKey), int(window/time.Hour)+sweepEvery, "at most a window of citizens, plus those since the last sweep")
	for _, list := range x.byKey {
		require.False(t, list[0].at.Before(last.Add(-window-time.Duration(sweepEvery)*time.Hour)))
	}
}

// One citizen filing thousands of requests keeps only the newest
// maxPerCitizen: every new request is compared with each of them.
func TestIndexKeepsTheNewestOfOneCitizen(t *testing.T) {
	x := &index{byKey: map[string][]seen{}, keysOfPhone: map[string][]string{}, phonesOfKey: map[string][]string{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxPerCitizen + 100 {
		at := t0.Add(time.Duration(i) * time.Minute)
		x.add("busy", seen{id: fmt.Sprint(i), at: at}, "", t0.Add(-time.Hour))
	}
	list := x.byKey["busy"]
	require.Len(t, list, maxPerCitizen)
	require.Equal(t, fmt.Sprint(maxPerCitizen+99), list[len(list)-1].id)
	require.Equal(t, "100", list[0].id)
}
