package configs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12345/gateway/configs"
)

func TestParseAgents(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []configs.AgentSpec
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"blank entries", " , ,", nil, ""},
		{"full", "li:pw1:general|sign_language:3", []configs.AgentSpec{
			{ID: "li", Password: "pw1", Skills: []string{"general", "sign_language"}, MaxConcurrent: 3}}, ""},
		{"id and password only", "wang:pw", []configs.AgentSpec{{ID: "wang", Password: "pw", MaxConcurrent: 5}}, ""},
		{"empty skills with capacity", "zhao:pw::2", []configs.AgentSpec{{ID: "zhao", Password: "pw", MaxConcurrent: 2}}, ""},
		{"empty skills, empty capacity", "zhao:pw:", []configs.AgentSpec{{ID: "zhao", Password: "pw", MaxConcurrent: 5}}, ""},
		{"several with spaces", " a:1:x , b:2:y|z:1 ", []configs.AgentSpec{
			{ID: "a", Password: "1", Skills: []string{"x"}, MaxConcurrent: 5},
			{ID: "b", Password: "2", Skills: []string{"y", "z"}, MaxConcurrent: 1}}, ""},
		{"unicode skill", "li:pw:手语", []configs.AgentSpec{{ID: "li", Password: "pw", Skills: []string{"手语"}, MaxConcurrent: 5}}, ""},
		{"id only", "li", nil, "configs: agents: entry 1: want id:password:skill|skill:max_concurrent:supervisor"},
		{"too many parts", "li:p:a:1:supervisor:x", nil, "configs: agents: entry 1: want id:password:skill|skill:max_concurrent:supervisor"},
		{"language skills", "li:p:general|lang:en|lang:ja:3,wang:q:lang:en", []configs.AgentSpec{
			{ID: "li", Password: "p", Skills: []string{"general", "lang:en", "lang:ja"}, MaxConcurrent: 3},
			{ID: "wang", Password: "q", Skills: []string{"lang:en"}, MaxConcurrent: 5}}, ""},
		{"unknown role", "li:p:a:1:boss", nil, `configs: agents: entry 1: agent "li": role "boss": want supervisor`},
		{"supervisor role", "zhao:p::2:supervisor", []configs.AgentSpec{{ID: "zhao", Password: "p", MaxConcurrent: 2, Roles: []string{"supervisor"}}}, ""},
		{"empty password", "li::a", nil, "configs: agents: entry 1: empty password"},
		{"empty id", ":pw", nil, `configs: agents: entry 1: id "": want 1 to 64 characters`},
		{"bad capacity", "a:1,li:pw:x:many", nil, "configs: agents: entry 2: max_concurrent: not an integer"},
		{"zero capacity", "li:pw:x:0", nil, `configs: agents: entry 1: agent "li": max_concurrent 0: must be 1…1000`},
		{"huge capacity", "li:pw:x:50000", nil, `configs: agents: entry 1: agent "li": max_concurrent 50000: must be 1…1000`},
		{"empty skill", "li:pw:a||b", nil, `configs: agents: entry 1: agent "li": skill 2: want 1 to 64 characters`},
		{"space in id", "l i:pw", nil, `configs: agents: entry 1: id "l i": want no spaces, control characters or : , |`},
		{"duplicate", "li:a,li:b", nil, `configs: agents: entry 2: duplicate id "li"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configs.ParseAgents(tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseAgentsNeverQuotesPasswords(t *testing.T) {
	for _, in := range []string{"li:hunter2:bad skill", "li:hunter2:x:hunter3", "li:hun:ter2:x y"} {
		_, err := configs.ParseAgents(in)
		require.Error(t, err, in)
		require.NotContains(t, err.Error(), "hunter")
		require.NotContains(t, err.Error(), "ter2")
	}
}

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

func TestLoadAgentsFile(t *testing.T) {
	h := hash(t, "pw")
	write := func(t *testing.T, s string) string {
		p := filepath.Join(t.TempDir(), "agents.yaml")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	tests := []struct {
		name    string
		yaml    string
		want    []configs.AgentSpec
		wantErr string
	}{
		{"two agents", "agents:\n  - id: li\n    password_hash: '" + h + "'\n    skills: [general, sign_language]\n    max_concurrent: 2\n" +
			"  - id: wang\n    password_hash: '" + h + "'\n",
			[]configs.AgentSpec{
				{ID: "li", PasswordHash: h, Skills: []string{"general", "sign_language"}, MaxConcurrent: 2},
				{ID: "wang", PasswordHash: h, MaxConcurrent: 5},
			}, ""},
		{"empty file", "", []configs.AgentSpec{}, ""},
		{"plaintext password rejected", "agents:\n  - id: li\n    password: pw\n", nil, "field password not found"},
		{"not bcrypt", "agents:\n  - id: li\n    password_hash: pw\n", nil, `agents[0]: agent "li": password_hash: not a bcrypt hash`},
		{"missing id", "agents:\n  - password_hash: '" + h + "'\n", nil, `agents[0]: id ""`},
		{"negative capacity", "agents:\n  - {id: li, password_hash: '" + h + "', max_concurrent: -1}\n", nil, "max_concurrent -1"},
		{"duplicate", "agents:\n  - {id: li, password_hash: '" + h + "'}\n  - {id: li, password_hash: '" + h + "'}\n", nil,
			`agents[1]: duplicate id "li"`},
		{"wrong shape", "agents: li\n", nil, "cannot unmarshal"},
		{"supervisor role", "agents:\n  - {id: chen, password_hash: '" + h + "', roles: [supervisor]}\n",
			[]configs.AgentSpec{{ID: "chen", PasswordHash: h, MaxConcurrent: 5, Roles: []string{"supervisor"}}}, ""},
		{"unknown role", "agents:\n  - {id: chen, password_hash: '" + h + "', roles: [boss]}\n", nil,
			`agents[0]: agent "chen": role "boss": want supervisor`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.yaml)
			got, err := configs.LoadAgentsFile(p)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, "configs: agents_file ("+p+")")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := configs.LoadAgentsFile(filepath.Join(t.TempDir(), "nope.yaml"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestAgentSupervisor(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec configs.AgentSpec
		want bool
	}{
		{"plain agent", configs.AgentSpec{ID: "li", Skills: []string{"general"}}, false},
		{"role from agents_file", configs.AgentSpec{ID: "chen", Roles: []string{configs.RoleSupervisor}}, true},
		{"skill from the agents key", configs.AgentSpec{ID: "zhou", Skills: []string{"general", "supervisor"}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, tt.spec.Supervisor()) })
	}
}

func TestAgentSpecs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agents.yaml")
	require.NoError(t, os.WriteFile(p, []byte("agents:\n  - {id: wang, password_hash: '"+hash(t, "x")+"'}\n"), 0o600))

	c := configs.Default()
	c.Agents = "li:pw"
	c.AgentsFile = p
	got, err := c.AgentSpecs()
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "li", got[0].ID)
	require.Equal(t, "wang", got[1].ID)
	require.True(t, strings.HasPrefix(got[1].PasswordHash, "$2"))

	c.Agents = "wang:pw"
	_, err = c.AgentSpecs()
	require.EqualError(t, err, `configs: agents_file (`+p+`): id "wang" is also in the agents key`)

	c.AgentsFile = ""
	got, err = c.AgentSpecs()
	require.NoError(t, err)
	require.Len(t, got, 1)
}

func FuzzParseAgents(f *testing.F) {
	for _, s := range []string{"", "li:pw:a|b:3", "a:b,c:d::", "li::", ":::", "a:b:c:d:e", "a:b:|:1", "li:pw:手语:9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		specs, err := configs.ParseAgents(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range specs {
			require.NotEmpty(t, a.ID)
			require.NotEmpty(t, a.Password)
			require.False(t, seen[a.ID])
			require.True(t, a.MaxConcurrent >= 1 && a.MaxConcurrent <= 1000)
			seen[a.ID] = true
		}
	})
}
