// Package emergency tells whether a citizen's text reports an emergency
// (contract §10): danger to life or property that the 12345 hotline must
// hand at once to the city's emergency linkage centre.
//
// Rules (rules.yaml, or an operator's triage.emergency_rules file in the
// same format) list words and "near" patterns per category, in Chinese and
// English. Text and rules are normalised alike: full-width → half-width,
// traditional → simplified Chinese, lower case, spacing and punctuation
// dropped between Chinese characters. A rule's word does not count when a
// negation cue comes just before it in the same clause (不是火灾, "no fire"),
// an "after" cue comes just after it (火灾后的补偿, "fire station"), or a
// topic word is in the same clause (补偿, 培训, "opening hours"). Rules
// favour recall: a false alarm costs a human a look, a miss costs more.
//
// Match returns what matched (the category and the names of the rules),
// never the citizen's words, so that the result can go on the envelope and
// into logs.
package emergency

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Match is what matched: the category and the names of the rules, never the
// citizen's words.
type Match struct {
	// Category is the most severe matched category (see Severity).
	Category string
	// Rules are the names of all matched rules, of every category, sorted,
	// without duplicates.
	Rules []string
}

// Rules is a compiled rule set. It is immutable; Match is safe for
// concurrent use.
type Rules struct {
	patterns []pattern
	ascii    [utf8.RuneSelf][]int32 // patterns by first byte (English: at a word start only)
	other    map[rune][]int32       // patterns by first rune
	rules    []rule
	back     int // bytes a negation cue may start before a word
	fwd      int // bytes an after cue may start after a word
	scratch  sync.Pool
}

type rule struct {
	name     string
	category string
	rank     int8
	groups   int8  // near rules: number of groups; 0 for word rules
	within   int32 // near rules: window in characters
}

type useKind uint8

const (
	useWord useKind = iota + 1
	useNear
	useNegation
	useAfter
	useTopic
)

// use is one role of a pattern: a rule's word, a near rule's group member,
// or a cue.
type use struct {
	kind   useKind
	group  int8
	rule   int32
	within int32
}

type pattern struct {
	s         string
	wordStart bool // starts with an ASCII letter or digit: must start a word
	wordEnd   bool // ends with one and is not a prefix ("bleed*"): must end a word
	hasRule   bool
	uses      []use
}

type occ struct {
	start, end int32
	pat        int32
	clause     int32
}

type nearHit struct {
	rule  int32
	group int8
	occ   int32
}

type scratch struct {
	buf     []byte
	occs    []occ
	topics  []int32
	near    []nearHit
	matched []int32
}

type builder struct {
	rules    []rule
	patterns []pattern
	byKey    map[string]int
}

func newBuilder() *builder { return &builder{byKey: map[string]int{}} }

func (b *builder) addPattern(raw string, u use) error {
	prefix := strings.HasSuffix(raw, "*")
	raw = strings.TrimSuffix(raw, "*")
	norm := string(normalize(nil, raw))
	switch {
	case strings.TrimSpace(norm) == "":
		return fmt.Errorf("word %q is empty once normalised", raw)
	case strings.IndexByte(norm, clauseMark) >= 0:
		return fmt.Errorf("word %q holds clause punctuation", raw)
	}
	key := norm
	if prefix {
		key += "*"
	}
	i, ok := b.byKey[key]
	if !ok {
		i = len(b.patterns)
		b.byKey[key] = i
		b.patterns = append(b.patterns, pattern{
			s:         norm,
			wordStart: isAlnum(norm[0]),
			wordEnd:   isAlnum(norm[len(norm)-1]) && !prefix,
		})
	}
	p := &b.patterns[i]
	p.uses = append(p.uses, u)
	if u.kind == useWord || u.kind == useNear {
		p.hasRule = true
	}
	return nil
}

func (b *builder) build() *Rules {
	r := &Rules{patterns: b.patterns, rules: b.rules, other: map[rune][]int32{}}
	maxNeg, maxAfter, maxLen := 0, 0, 0
	for i, p := range r.patterns {
		maxLen = max(maxLen, len(p.s))
		for _, u := range p.uses {
			switch u.kind {
			case useNegation:
				maxNeg = max(maxNeg, int(u.within))
			case useAfter:
				maxAfter = max(maxAfter, int(u.within))
			}
		}
		if c := p.s[0]; c < utf8.RuneSelf {
			r.ascii[c] = append(r.ascii[c], int32(i))
		} else {
			first, _ := utf8.DecodeRuneInString(p.s)
			r.other[first] = append(r.other[first], int32(i))
		}
	}
	r.back = maxNeg*utf8.UTFMax + maxLen
	r.fwd = maxAfter * utf8.UTFMax
	r.scratch.New = func() any { return &scratch{buf: make([]byte, 0, 1024)} }
	return r
}

// Names returns the names of all rules, in file order.
func (r *Rules) Names() []string {
	out := make([]string, len(r.rules))
	for i, ru := range r.rules {
		out[i] = ru.name
	}
	return out
}

// Match reports whether text reports an emergency and, if so, what matched.
// It is safe for concurrent use and allocates only when it matches.
func (r *Rules) Match(text string) (Match, bool) {
	s := r.scratch.Get().(*scratch)
	defer r.scratch.Put(s)
	s.buf = normalize(s.buf[:0], text)
	s.occs, s.topics, s.near, s.matched = s.occs[:0], s.topics[:0], s.near[:0], s.matched[:0]
	if !r.scan(s) {
		return Match{}, false
	}
	for i, o := range s.occs {
		p := &r.patterns[o.pat]
		if !p.hasRule || slices.Contains(s.topics, o.clause) || r.negated(s, i) || r.followed(s, i) {
			continue
		}
		for _, u := range p.uses {
			switch u.kind {
			case useWord:
				s.matched = append(s.matched, u.rule)
			case useNear:
				s.near = append(s.near, nearHit{rule: u.rule, group: u.group, occ: int32(i)})
			}
		}
	}
	r.matchNear(s)
	if len(s.matched) == 0 {
		return Match{}, false
	}
	best := s.matched[0]
	names := make([]string, 0, len(s.matched))
	for _, m := range s.matched {
		if r.rules[m].rank < r.rules[best].rank {
			best = m
		}
		names = append(names, r.rules[m].name)
	}
	slices.Sort(names)
	return Match{Category: r.rules[best].category, Rules: slices.Compact(names)}, true
}

// scan finds every occurrence of every pattern in s.buf, in order of start,
// and reports whether any rule's word occurs.
func (r *Rules) scan(s *scratch) bool {
	buf := s.buf
	clause := int32(0)
	found := false
	for i := 0; i < len(buf); {
		c := buf[i]
		var cands []int32
		size := 1
		switch {
		case c == clauseMark:
			clause++
			i++
			continue
		case c < utf8.RuneSelf:
			if i > 0 && isAlnum(buf[i-1]) {
				i++
				continue
			}
			cands = r.ascii[c]
		default:
			var first rune
			first, size = utf8.DecodeRune(buf[i:])
			cands = r.other[first]
		}
		for _, pi := range cands {
			p := &r.patterns[pi]
			end := i + len(p.s)
			if end > len(buf) || string(buf[i:end]) != p.s {
				continue
			}
			if p.wordEnd && end < len(buf) && isAlnum(buf[end]) {
				continue
			}
			s.occs = append(s.occs, occ{start: int32(i), end: int32(end), pat: pi, clause: clause})
			if p.hasRule {
				found = true
			}
			for _, u := range p.uses {
				if u.kind == useTopic {
					s.topics = append(s.topics, clause)
					break
				}
			}
		}
		i += size
	}
	return found
}

// negated reports whether a negation cue ends at most its within characters
// before occurrence i, in the same clause.
func (r *Rules) negated(s *scratch, i int) bool {
	o := s.occs[i]
	for j := i - 1; j >= 0; j-- {
		c := s.occs[j]
		if int(o.start-c.start) > r.back {
			break
		}
		if c.end > o.start || c.clause != o.clause {
			continue
		}
		for _, u := range r.patterns[c.pat].uses {
			if u.kind == useNegation && utf8.RuneCount(s.buf[c.end:o.start]) <= int(u.within) {
				return true
			}
		}
	}
	return false
}

// followed reports whether an after cue starts at most its within
// characters after occurrence i, in the same clause.
func (r *Rules) followed(s *scratch, i int) bool {
	o := s.occs[i]
	for j := i + 1; j < len(s.occs); j++ {
		c := s.occs[j]
		if int(c.start-o.end) > r.fwd {
			break
		}
		if c.start < o.end || c.clause != o.clause {
			continue
		}
		for _, u := range r.patterns[c.pat].uses {
			if u.kind == useAfter && utf8.RuneCount(s.buf[o.end:c.start]) <= int(u.within) {
				return true
			}
		}
	}
	return false
}

// matchNear adds to s.matched every near rule with a hit of each of its
// groups inside one window of its within characters (from the first hit's
// start to the last hit's end; clauses may differ).
func (r *Rules) matchNear(s *scratch) {
	if len(s.near) == 0 {
		return
	}
	slices.SortFunc(s.near, func(a, b nearHit) int {
		if a.rule != b.rule {
			return int(a.rule - b.rule)
		}
		return int(s.occs[a.occ].start - s.occs[b.occ].start)
	})
	for lo := 0; lo < len(s.near); {
		hi := lo
		for hi < len(s.near) && s.near[hi].rule == s.near[lo].rule {
			hi++
		}
		ru := r.rules[s.near[lo].rule]
		all := uint8(1)<<ru.groups - 1
	anchors:
		for a := lo; a < hi; a++ {
			start := s.occs[s.near[a].occ].start
			var seen uint8
			for b := a; b < hi; b++ {
				o := s.occs[s.near[b].occ]
				if int(o.start-start) > int(ru.within)*utf8.UTFMax {
					break
				}
				if utf8.RuneCount(s.buf[start:max(o.end, start)]) > int(ru.within) {
					continue
				}
				seen |= 1 << s.near[b].group
				if seen == all {
					s.matched = append(s.matched, s.near[lo].rule)
					break anchors
				}
			}
		}
		lo = hi
	}
}
