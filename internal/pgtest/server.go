package pgtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// server is one PostgreSQL server: its own directory holds the data
// directory, the log file and the unix socket.
type server struct {
	name    string // "primary" or "standby"
	dir     string
	port    int
	running bool
}

func (s *server) data() string    { return filepath.Join(s.dir, "data") }
func (s *server) logPath() string { return filepath.Join(s.dir, "postgres.log") }
func (s *server) conf() string    { return filepath.Join(s.data(), "postgresql.conf") }
func (s *server) addr() string    { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// dsn is a libpq URL of the gateway database on this server alone.
func (s *server) dsn() string {
	return "postgres://postgres@" + s.addr() + "/" + Database + "?connect_timeout=2"
}

// setConf appends settings to postgresql.conf; a later line overrides an
// earlier one, so the standby overrides what it copied from the primary.
func (s *server) setConf(settings ...string) error {
	f, err := os.OpenFile(s.conf(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "\n# pgtest (%s)\n%s\n", s.name, strings.Join(settings, "\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// quote is a postgresql.conf string value.
func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// start starts the server on a free port of 127.0.0.1 and waits until it
// accepts connections (pg_ctl start -w: read-only ones for a standby). The
// port is free when chosen but may be taken before the server binds it: then
// it tries another.
func (s *server) start(ctx context.Context, b binaries) error {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		if err := s.setConf(fmt.Sprintf("port = %d", port)); err != nil {
			return err
		}
		logged := fileSize(s.logPath())
		err = b.run(ctx, s.dir, "pg_ctl", "start", "-w", "-t", "60", "-D", s.data(), "-l", s.logPath())
		if err == nil {
			s.port, s.running = port, true
			return nil
		}
		if attempt < 3 && strings.Contains(readFrom(s.logPath(), logged), "could not bind") {
			continue
		}
		return fmt.Errorf("start %s: %w", s.name, err)
	}
}

// stop stops the server with pg_ctl stop -m mode; a failed fast stop is
// followed by an immediate one.
func (s *server) stop(ctx context.Context, b binaries, mode string) error {
	if !s.running {
		return nil
	}
	err := b.run(ctx, s.dir, "pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", s.data())
	if err != nil && mode != "immediate" {
		err = b.run(ctx, s.dir, "pg_ctl", "stop", "-w", "-t", "30", "-m", "immediate", "-D", s.data())
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", s.name, err)
	}
	s.running = false
	return nil
}

// freePort is a TCP port of 127.0.0.1 that nothing listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom is the content of path from offset on ("" when unreadable).
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, offset, 1<<20))
	return string(b)
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	const window = 64 << 10
	s := readFrom(path, max(0, fileSize(path)-window))
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
