package emergency_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/triage/emergency"
)

// TestBlindSet scores the default rules on the sets written without
// reading the rules (issue 21): emergency_blind.jsonl (120 requests, whose
// misses later shaped the rules' broadening, so no longer blind), and
// emergency_blind2.jsonl (120 more, by an author who saw neither the rules
// nor those misses). It is a measurement, not a target: it prints recall
// and precision overall, by language and by category, and the misses and
// false alarms, and asserts only that each file is whole.
//
//	go test -count=1 -run TestBlindSet -v ./triage/emergency/
func TestBlindSet(t *testing.T) {
	for _, file := range []string{"emergency_blind.jsonl", "emergency_blind2.jsonl"} {
		t.Run(file, func(t *testing.T) { scoreBlind(t, file) })
	}
}

func scoreBlind(t *testing.T, file string) {
	set := readSet(t, file) // every line valid, or it fails
	require.GreaterOrEqual(t, len(set), 120)

	r := emergency.Default()
	type counts struct{ tp, fp, fn, tn int }
	add := func(c *counts, want, got bool) {
		switch {
		case want && got:
			c.tp++
		case got:
			c.fp++
		case want:
			c.fn++
		default:
			c.tn++
		}
	}
	var all counts
	byLang := map[string]*counts{"zh": {}, "en": {}}
	cats := []string{"fire", "medical", "crime", "traffic", "hazard", "self_harm", "other"}
	byCat := map[string]*counts{}   // labelled category: tp, fn (recall)
	flagged := map[string]*counts{} // matched category: tp = an emergency, fp = not (precision)
	sameCat := map[string]int{}     // matched category == labelled category
	for _, c := range cats {
		byCat[c], flagged[c] = &counts{}, &counts{}
	}
	var misses, alarms []string
	for _, l := range set {
		m, ok := r.Match(l.Text)
		add(&all, l.Emergency, ok)
		add(byLang[l.Lang], l.Emergency, ok)
		if l.Emergency {
			add(byCat[l.Category], true, ok)
		}
		if ok {
			add(flagged[m.Category], l.Emergency, true)
			if m.Category == l.Category {
				sameCat[l.Category]++
			}
		}
		switch {
		case l.Emergency && !ok:
			misses = append(misses, fmt.Sprintf("%s [%s] %s", l.Category, l.Lang, l.Text))
		case !l.Emergency && ok:
			alarms = append(alarms, fmt.Sprintf("[%s] %s -> %s %v", l.Lang, l.Text, m.Category, m.Rules))
		case ok && m.Category != l.Category:
			t.Logf("category %s, labelled %s: %s %v", m.Category, l.Category, l.Text, m.Rules)
		}
	}
	ratio := func(a, b int) string {
		if b == 0 {
			return "  n/a"
		}
		return fmt.Sprintf("%.3f", float64(a)/float64(b))
	}
	line := func(name string, c *counts) {
		t.Logf("%-9s recall %s (%d/%d)  precision %s (%d/%d)  tp %d fp %d fn %d tn %d", name,
			ratio(c.tp, c.tp+c.fn), c.tp, c.tp+c.fn, ratio(c.tp, c.tp+c.fp), c.tp, c.tp+c.fp,
			c.tp, c.fp, c.fn, c.tn)
	}
	t.Logf("%s: %d texts, %d emergencies", file, len(set), all.tp+all.fn)
	line("overall", &all)
	line("zh", byLang["zh"])
	line("en", byLang["en"])
	t.Logf("by category: recall over the labelled category; precision over the texts the rules put in it; same = matched with the labelled category")
	for _, c := range cats {
		lc, fc := byCat[c], flagged[c]
		if lc.tp+lc.fn == 0 && fc.tp+fc.fp == 0 {
			continue
		}
		t.Logf("%-9s recall %s (%d/%d)  precision %s (%d/%d)  same %d", c,
			ratio(lc.tp, lc.tp+lc.fn), lc.tp, lc.tp+lc.fn, ratio(fc.tp, fc.tp+fc.fp), fc.tp, fc.tp+fc.fp, sameCat[c])
	}
	t.Logf("misses (%d):", len(misses))
	for _, s := range misses {
		t.Logf("  %s", s)
	}
	t.Logf("false alarms (%d):", len(alarms))
	for _, s := range alarms {
		t.Logf("  %s", s)
	}
}
