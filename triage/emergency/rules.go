package emergency

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Categories, in the schema's words (envelope triage.emergency.category).
const (
	CategoryFire     = "fire"
	CategoryMedical  = "medical"
	CategoryCrime    = "crime"
	CategoryTraffic  = "traffic"
	CategoryHazard   = "hazard"
	CategorySelfHarm = "self_harm"
	CategoryOther    = "other"
)

// Severity is the order in which a category wins when rules of several
// categories match one text: the first listed wins. The category names the
// cause, which decides who is sent; injuries are most often a consequence
// (a crash with a bleeding driver is traffic, a stabbing is crime), so
// medical comes after the causes, and self-harm comes first because the
// person at risk may be the one writing.
var Severity = []string{
	CategorySelfHarm, CategoryFire, CategoryCrime, CategoryTraffic,
	CategoryHazard, CategoryMedical, CategoryOther,
}

//go:embed rules.yaml
var defaultRules []byte

// file is the YAML format of triage.emergency_rules (rules.yaml is the
// commented reference). Unknown fields are errors.
type file struct {
	Negation []cueSet  `yaml:"negation"`
	After    []cueSet  `yaml:"after"`
	Topics   []string  `yaml:"topics"`
	Rules    []ruleDef `yaml:"rules"`
}

type cueSet struct {
	Within int      `yaml:"within"`
	Cues   []string `yaml:"cues"`
}

type ruleDef struct {
	Name     string   `yaml:"name"`
	Category string   `yaml:"category"`
	Words    []string `yaml:"words"`
	Near     *nearDef `yaml:"near"`
}

type nearDef struct {
	Within int        `yaml:"within"`
	Groups [][]string `yaml:"groups"`
}

// maxWithin bounds every "within" so that a look-around stays local.
const maxWithin = 200

// Default returns the rules shipped with the binary (rules.yaml). It panics
// only if that file is broken, which the package's tests rule out.
func Default() *Rules {
	r, err := Parse(defaultRules, "rules.yaml (built in)")
	if err != nil {
		panic(err)
	}
	return r
}

// Load reads and parses an operator's rules file (triage.emergency_rules).
// Errors name the file and, where one is at fault, the rule.
func Load(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("emergency rules: cannot read: %w", err)
	}
	return Parse(data, path)
}

// Parse parses rules in the format of rules.yaml; name is used in errors.
// Everything is compiled here: Match does no parsing.
func Parse(data []byte, name string) (*Rules, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("emergency rules %s: empty file", name)
		}
		return nil, fmt.Errorf("emergency rules %s: %w", name, err)
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("emergency rules %s: no rules", name)
	}
	b := newBuilder()
	for i, cs := range f.Negation {
		if err := b.addCues(cs, useNegation, fmt.Sprintf("negation[%d]", i)); err != nil {
			return nil, fmt.Errorf("emergency rules %s: %w", name, err)
		}
	}
	for i, cs := range f.After {
		if err := b.addCues(cs, useAfter, fmt.Sprintf("after[%d]", i)); err != nil {
			return nil, fmt.Errorf("emergency rules %s: %w", name, err)
		}
	}
	for _, w := range f.Topics {
		if err := b.addPattern(w, use{kind: useTopic}); err != nil {
			return nil, fmt.Errorf("emergency rules %s: topics: %w", name, err)
		}
	}
	seen := map[string]bool{}
	for i, rd := range f.Rules {
		if err := b.addRule(rd, seen); err != nil {
			label := rd.Name
			if label == "" {
				label = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("emergency rules %s: rule %q: %w", name, label, err)
		}
	}
	return b.build(), nil
}

func (b *builder) addCues(cs cueSet, kind useKind, where string) error {
	if cs.Within < 0 || cs.Within > maxWithin {
		return fmt.Errorf("%s: within must be 0..%d, not %d", where, maxWithin, cs.Within)
	}
	if len(cs.Cues) == 0 {
		return fmt.Errorf("%s: no cues", where)
	}
	for _, c := range cs.Cues {
		if err := b.addPattern(c, use{kind: kind, within: int32(cs.Within)}); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

func (b *builder) addRule(rd ruleDef, seen map[string]bool) error {
	switch {
	case rd.Name == "":
		return errors.New("no name")
	case strings.ContainsAny(rd.Name, " \t\n"):
		return errors.New("a name has no spaces")
	case seen[rd.Name]:
		return errors.New("name used twice")
	case !slices.Contains(Severity, rd.Category):
		return fmt.Errorf("category must be one of %s, not %q", strings.Join(Severity, ", "), rd.Category)
	case (len(rd.Words) > 0) == (rd.Near != nil):
		return errors.New("needs exactly one of words and near")
	}
	seen[rd.Name] = true
	idx := int32(len(b.rules))
	b.rules = append(b.rules, rule{name: rd.Name, rank: int8(slices.Index(Severity, rd.Category)), category: rd.Category})
	if rd.Near == nil {
		for _, w := range rd.Words {
			if err := b.addPattern(w, use{kind: useWord, rule: idx}); err != nil {
				return err
			}
		}
		return nil
	}
	n := rd.Near
	if n.Within < 1 || n.Within > maxWithin {
		return fmt.Errorf("near: within must be 1..%d, not %d", maxWithin, n.Within)
	}
	if len(n.Groups) < 2 || len(n.Groups) > 4 {
		return fmt.Errorf("near: needs 2 to 4 groups, not %d", len(n.Groups))
	}
	b.rules[idx].within = int32(n.Within)
	b.rules[idx].groups = int8(len(n.Groups))
	for g, words := range n.Groups {
		if len(words) == 0 {
			return fmt.Errorf("near: group %d is empty", g+1)
		}
		for _, w := range words {
			if err := b.addPattern(w, use{kind: useNear, rule: idx, group: int8(g)}); err != nil {
				return fmt.Errorf("near: group %d: %w", g+1, err)
			}
		}
	}
	return nil
}
