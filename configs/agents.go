package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// DefaultMaxConcurrent is an agent's session capacity when none is given.
const DefaultMaxConcurrent = 5

// langPrefix starts a language skill, lang:<code> (contract §10): the only
// skill with a colon.
const langPrefix = "lang:"

// maxMaxConcurrent bounds max_concurrent to catch typos such as 50000.
const maxMaxConcurrent = 1000

// AgentSpec is one configured online-service agent. Exactly one of Password
// (plaintext, from the bootstrap agents key) and PasswordHash (bcrypt, from
// agents_file) is set.
type AgentSpec struct {
	ID            string
	Password      string
	PasswordHash  string
	Skills        []string
	MaxConcurrent int
	// Roles grant more than answering citizens; RoleSupervisor is the only
	// one so far.
	Roles []string
}

// RoleSupervisor sees every queue and chat, takes chats over, reassigns
// them, is alerted at a breach and may lift another agent's login lockout.
const RoleSupervisor = "supervisor"

// Supervisor says whether the agent has the supervisor role or (as before
// the agents key had a field for roles) a skill of that name.
func (a AgentSpec) Supervisor() bool {
	return slices.Contains(a.Roles, RoleSupervisor) || slices.Contains(a.Skills, RoleSupervisor)
}

// ParseAgents parses the agents key: comma-separated
// id:password[:skill|skill[:max_concurrent[:role|role]]] entries. Skills may be empty and
// max_concurrent defaults to DefaultMaxConcurrent; a password cannot contain
// ':' or ','. An empty string gives no agents. Errors are *KeyError for key
// "agents" and never quote a password.
func ParseAgents(s string) ([]AgentSpec, error) {
	var out []AgentSpec
	seen := make(map[string]bool)
	n := 0
	for entry := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		n++
		a, err := parseAgent(strings.TrimSpace(entry))
		if err == nil && seen[a.ID] {
			err = fmt.Errorf("duplicate id %q", a.ID)
		}
		if err != nil {
			return nil, &KeyError{Key: "agents", Err: fmt.Errorf("entry %d: %w", n, err)}
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	return out, nil
}

func parseAgent(entry string) (AgentSpec, error) {
	// A skill may be lang:<code> (contract §10): its colon is not a separator.
	parts := strings.SplitN(entry, ":", 3)
	if len(parts) == 3 {
		rest := strings.Split(strings.ReplaceAll(parts[2], langPrefix, "lang\x00"), ":")
		for i := range rest {
			rest[i] = strings.ReplaceAll(rest[i], "lang\x00", langPrefix)
		}
		parts = append(parts[:2], rest...)
	}
	if len(parts) < 2 || len(parts) > 5 {
		return AgentSpec{}, errors.New("want id:password:skill|skill:max_concurrent:supervisor")
	}
	a := AgentSpec{ID: parts[0], Password: parts[1], MaxConcurrent: DefaultMaxConcurrent}
	if len(parts) > 2 && strings.TrimSpace(parts[2]) != "" {
		a.Skills = strings.Split(parts[2], "|")
	}
	if len(parts) > 3 {
		mc, err := strconv.Atoi(strings.TrimSpace(parts[3]))
		if err != nil {
			// Not quoted: with a misplaced ':' it may be part of the password.
			return AgentSpec{}, errors.New("max_concurrent: not an integer")
		}
		a.MaxConcurrent = mc
	}
	if len(parts) > 4 && strings.TrimSpace(parts[4]) != "" {
		a.Roles = strings.Split(parts[4], "|")
	}
	if a.Password == "" {
		return AgentSpec{}, errors.New("empty password")
	}
	return a, a.check()
}

// check validates what both sources share.
func (a AgentSpec) check() error {
	if err := checkName(a.ID); err != nil {
		return fmt.Errorf("id %q: %w", a.ID, err)
	}
	for i, s := range a.Skills {
		if err := checkName(strings.Replace(s, langPrefix, "lang-", 1)); err != nil {
			return fmt.Errorf("agent %q: skill %d: %w", a.ID, i+1, err)
		}
	}
	for _, r := range a.Roles {
		if r != RoleSupervisor {
			return fmt.Errorf("agent %q: role %q: want %s", a.ID, r, RoleSupervisor)
		}
	}
	if a.MaxConcurrent < 1 || a.MaxConcurrent > maxMaxConcurrent {
		return fmt.Errorf("agent %q: max_concurrent %d: must be 1…%d", a.ID, a.MaxConcurrent, maxMaxConcurrent)
	}
	return nil
}

// checkName accepts 1–64 printable characters without spaces or separators.
func checkName(s string) error {
	if s == "" || utf8.RuneCountInString(s) > 64 || !utf8.ValidString(s) {
		return errors.New("want 1 to 64 characters")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(":,|", r) {
			return errors.New("want no spaces, control characters or : , |")
		}
	}
	return nil
}

// agentsFile is the YAML shape of agents_file.
type agentsFile struct {
	Agents []struct {
		ID            string   `yaml:"id"`
		PasswordHash  string   `yaml:"password_hash"`
		Skills        []string `yaml:"skills"`
		MaxConcurrent int      `yaml:"max_concurrent"`
		Roles         []string `yaml:"roles"`
	} `yaml:"agents"`
}

// LoadAgentsFile reads the agents file: YAML
// `agents: [{id, password_hash, skills: [..], max_concurrent, roles: [..]}]` where
// password_hash is a bcrypt hash and max_concurrent defaults to
// DefaultMaxConcurrent. Unknown fields (such as a plaintext password) are
// errors. Errors are *KeyError for key "agents_file".
func LoadAgentsFile(path string) ([]AgentSpec, error) {
	fail := func(err error) ([]AgentSpec, error) {
		return nil, &KeyError{Key: "agents_file", Source: path, Err: err}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f agentsFile
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fail(err)
	}
	out := make([]AgentSpec, 0, len(f.Agents))
	seen := make(map[string]bool)
	for i, e := range f.Agents {
		a := AgentSpec{ID: e.ID, PasswordHash: e.PasswordHash, Skills: e.Skills, MaxConcurrent: e.MaxConcurrent, Roles: e.Roles}
		if a.MaxConcurrent == 0 {
			a.MaxConcurrent = DefaultMaxConcurrent
		}
		if len(a.Skills) == 0 {
			a.Skills = nil
		}
		if len(a.Roles) == 0 {
			a.Roles = nil
		}
		err := a.check()
		if err == nil && seen[a.ID] {
			err = fmt.Errorf("duplicate id %q", a.ID)
		}
		if err == nil {
			if _, herr := bcrypt.Cost([]byte(a.PasswordHash)); herr != nil {
				err = fmt.Errorf("agent %q: password_hash: not a bcrypt hash", a.ID)
			}
		}
		if err != nil {
			return fail(fmt.Errorf("agents[%d]: %w", i, err))
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	return out, nil
}

// AgentSpecs returns the agents of the agents key followed by those of
// agents_file (if set). An id in both is an error.
func (c *Config) AgentSpecs() ([]AgentSpec, error) {
	specs, err := ParseAgents(c.Agents)
	if err != nil {
		return nil, err
	}
	if c.AgentsFile == "" {
		return specs, nil
	}
	fromFile, err := LoadAgentsFile(c.AgentsFile)
	if err != nil {
		return nil, err
	}
	for _, a := range fromFile {
		for _, b := range specs {
			if a.ID == b.ID {
				return nil, &KeyError{Key: "agents_file", Source: c.AgentsFile,
					Err: fmt.Errorf("id %q is also in the agents key", a.ID)}
			}
		}
	}
	return append(specs, fromFile...), nil
}
