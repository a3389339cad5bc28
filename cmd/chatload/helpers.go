package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// A process may open only as many sockets as its file limit allows (20,000
// on the bench machine): with -helpers, idle mode starts that many more
// chatload processes, each holding an equal share of -conns, and measures
// the gateway's memory over all of them.

// helper is one such process.
type helper struct {
	cmd  *exec.Cmd
	open int
	done chan struct{} // closed when its stderr ends (it exited)
}

// startHelpers starts n helpers holding conns websockets each, and returns
// once each has set its share up.
func startHelpers(ctx context.Context, o options, n, conns int) ([]*helper, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var hs []*helper
	for i := range n {
		args := []string{"-mode", "idle", "-conns", strconv.Itoa(conns), "-base", o.base, "-hello=" + strconv.FormatBool(o.hello),
			"-settle", "0s", "-duration", "24h", "-setup-concurrency", strconv.Itoa(o.setupConcurrency), "-setup-timeout", o.setupTimeout.String()}
		if len(o.wsBases) > 0 {
			args = append(args, "-ws-bases", strings.Join(o.wsBases, ","))
		}
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // it closes its websockets
		cmd.WaitDelay = time.Minute
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return hs, err
		}
		if err := cmd.Start(); err != nil {
			return hs, err
		}
		h := &helper{cmd: cmd, done: make(chan struct{})}
		hs = append(hs, h)
		opened := make(chan int, 1)
		go func() {
			defer close(h.done)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				line := sc.Text()
				fmt.Fprintf(os.Stderr, "helper %d: %s\n", i+1, line)
				var k int
				if _, err := fmt.Sscanf(line, "chatload: %d open in", &k); err == nil {
					opened <- k
				}
			}
			_, _ = io.Copy(io.Discard, stderr)
		}()
		select {
		case h.open = <-opened:
		case <-h.done:
			return hs, fmt.Errorf("helper %d exited before setting up its websockets", i+1)
		case <-ctx.Done():
			return hs, ctx.Err()
		}
	}
	return hs, nil
}

// stopHelpers tells the helpers to close their websockets and waits for them.
func stopHelpers(hs []*helper) {
	for _, h := range hs {
		_ = h.cmd.Process.Signal(os.Interrupt)
	}
	for _, h := range hs {
		<-h.done
		_ = h.cmd.Wait() // it exits 1: interrupted
	}
}

// helpersOpen is how many websockets the helpers still running hold.
func helpersOpen(hs []*helper) int {
	n := 0
	for _, h := range hs {
		select {
		case <-h.done:
		default:
			n += h.open
		}
	}
	return n
}
