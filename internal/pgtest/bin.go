package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// programs are the PostgreSQL programs the harness runs.
var programs = []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"}

// debianBinGlob is where Debian's postgresql-NN packages put the programs.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// commandTimeout bounds one run of initdb, pg_ctl or pg_basebackup.
const commandTimeout = 60 * time.Second

// binaries are the PostgreSQL programs and how to run them.
type binaries struct {
	paths map[string]string // program name → path

	// asPostgres: the test runs as root, which initdb and postgres refuse,
	// so every program runs as the postgres user through runuser, and the
	// files it needs are chowned to that user.
	asPostgres bool
	runuser    string
	uid, gid   int
}

var (
	findOnce sync.Once
	found    binaries
	errFind  error
)

// findBinaries looks the programs up once per test binary.
func findBinaries() (binaries, error) {
	findOnce.Do(func() { found, errFind = lookBinaries() })
	return found, errFind
}

func lookBinaries() (binaries, error) {
	paths, err := lookPrograms()
	if err != nil {
		return binaries{}, err
	}
	b := binaries{paths: paths}
	if os.Geteuid() != 0 {
		return b, nil
	}
	b.asPostgres = true
	if b.runuser, err = exec.LookPath("runuser"); err != nil {
		return binaries{}, fmt.Errorf("as root the servers run as the postgres user, which needs runuser: %w", err)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return binaries{}, fmt.Errorf("as root the servers run as the postgres user (the postgresql package creates it): %w", err)
	}
	if b.uid, err = strconv.Atoi(u.Uid); err != nil {
		return binaries{}, fmt.Errorf("uid of postgres %q: %w", u.Uid, err)
	}
	if b.gid, err = strconv.Atoi(u.Gid); err != nil {
		return binaries{}, fmt.Errorf("gid of postgres %q: %w", u.Gid, err)
	}
	return b, nil
}

// lookPrograms finds every program in the newest /usr/lib/postgresql/NN/bin
// that has them all, else on PATH.
func lookPrograms() (map[string]string, error) {
	dirs, _ := filepath.Glob(debianBinGlob) // the pattern is valid
	for _, dir := range newestFirst(dirs) {
		paths := map[string]string{}
		for _, p := range programs {
			path := filepath.Join(dir, p)
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				paths[p] = path
			}
		}
		if len(paths) == len(programs) {
			return paths, nil
		}
	}
	paths := map[string]string{}
	var missing []error
	for _, p := range programs {
		path, err := exec.LookPath(p)
		if err != nil {
			missing = append(missing, err)
			continue
		}
		paths[p] = path
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("PostgreSQL programs not found in %s nor on PATH: %w", debianBinGlob, errors.Join(missing...))
	}
	return paths, nil
}

// newestFirst orders /usr/lib/postgresql/NN/bin directories by NN (a major
// version such as 16, or 9.6 before PostgreSQL 10), newest first; names that
// are not versions go last.
func newestFirst(dirs []string) []string {
	version := func(dir string) []int {
		var v []int
		for f := range strings.SplitSeq(filepath.Base(filepath.Dir(dir)), ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil
			}
			v = append(v, n)
		}
		return v
	}
	out := slices.Clone(dirs)
	slices.SortStableFunc(out, func(a, b string) int { return slices.Compare(version(b), version(a)) })
	return out
}

// Need skips the test when the PostgreSQL programs (initdb, pg_ctl,
// pg_basebackup, postgres) are missing, or, when the test runs as root,
// runuser or the postgres user. When the environment variable CI is set it
// fails the test instead, so that CI never passes by skipping. Start calls
// it.
func Need(t testing.TB) {
	t.Helper()
	_, err := findBinaries()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is required (CI is set): %v; ./scripts/test.sh installs it", err)
	}
	t.Skipf("PostgreSQL not installed (./scripts/test.sh installs it): %v", err)
}

// run runs program with args in dir (a directory the postgres user can
// enter: the programs fail in a working directory they cannot read) and
// returns its output in the error when it fails.
func (b binaries) run(ctx context.Context, dir, program string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	name, argv := b.paths[program], args
	if b.asPostgres {
		name, argv = b.runuser, append([]string{"-u", "postgres", "--", b.paths[program]}, args...)
	}
	cmd := exec.CommandContext(ctx, name, argv...)
	cmd.Dir = dir
	cmd.Env = environ()
	// pg_ctl start leaves a server behind; it writes to its log file, not to
	// our pipes, but never wait for a stray holder of them.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", program, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// environ is the test's environment without libpq's PG* variables (a
// developer's PGHOST or PGPORT must not steer pg_basebackup) and in the C
// locale (initdb takes its locale from the environment).
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}

// own gives path to the user the servers run as (a no-op unless root).
func (b binaries) own(path string) error {
	if !b.asPostgres {
		return nil
	}
	return os.Chown(path, b.uid, b.gid)
}

// mkdir makes a directory the servers' user owns.
func (b binaries) mkdir(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return b.own(path)
}
