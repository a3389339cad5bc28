package loginguard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// WorkerArg is the argument that makes the gateway's binary serve bcrypt
// comparisons on its standard input and output (ServeWorker) instead of
// starting a gateway.
const WorkerArg = "bcrypt-worker"

// Worker runs bcrypt comparisons in a child process of the lowest CPU
// priority. A comparison is ~50 ms of CPU; run inside the gateway it held
// one of the runtime's Ps for all of that (the runtime cannot hand a P on
// during pure computation, only every 10 ms of preemption), and a thread
// of low priority inside the runtime delayed every stop-the-world pause of
// the collector. In a process of its own, the kernel runs it only when the
// gateway leaves a core idle: intake is not slowed by a login storm.
//
// One comparison at a time (the guard's pool bounds the queue). A child that
// dies is started again at the next comparison; one that cannot be started,
// fails mid-way or does not answer within WorkerTimeout (a machine so busy
// that an idle-class process gets no CPU) leaves that comparison to the
// calling goroutine, so that a login is never refused for the worker's sake.
type Worker struct {
	command []string
	log     *slog.Logger

	mu     sync.Mutex
	closed bool
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	out    *bufio.Reader
	enc    *json.Encoder
}

// WorkerTimeout bounds one comparison in the child (it takes ~50 ms when
// the machine has a core to spare).
const WorkerTimeout = 2 * time.Second

type workerRequest struct {
	Hash     []byte `json:"hash"`
	Password []byte `json:"password"`
}

// NewWorker returns a worker that starts command (the gateway's binary and
// WorkerArg) on first use.
func NewWorker(log *slog.Logger, command ...string) *Worker {
	return &Worker{command: command, log: log}
}

// Compare reports whether password matches the bcrypt hash.
func (w *Worker) Compare(hash, password []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return bcrypt.CompareHashAndPassword(hash, password) == nil
	}
	ok, err := w.compare(hash, password)
	if err != nil {
		w.log.Error("loginguard: bcrypt worker failed; comparing in the gateway", "err", err)
		w.stop()
		return bcrypt.CompareHashAndPassword(hash, password) == nil
	}
	return ok
}

func (w *Worker) compare(hash, password []byte) (bool, error) {
	if w.cmd == nil {
		if err := w.start(); err != nil {
			return false, err
		}
	}
	if err := w.enc.Encode(workerRequest{Hash: hash, Password: password}); err != nil {
		return false, fmt.Errorf("writing to the worker: %w", err)
	}
	// Real time, whatever clock the gateway runs on: this bounds a process.
	if err := w.stdout.SetReadDeadline(time.Now().Add(WorkerTimeout)); err != nil {
		return false, err
	}
	line, err := w.out.ReadString('\n')
	switch {
	case err != nil:
		return false, fmt.Errorf("reading from the worker: %w", err)
	case line == "1\n":
		return true, nil
	case line == "0\n":
		return false, nil
	}
	return false, fmt.Errorf("the worker answered %q", line)
}

func (w *Worker) start() error {
	if len(w.command) == 0 {
		return errors.New("no worker command")
	}
	// Our own pipes: an *os.File read end takes a deadline.
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(w.command[0], w.command[1:]...)
	cmd.Stdout = outW
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	outW.Close() // the child has its copy
	if err != nil {
		outR.Close()
		return fmt.Errorf("starting %s: %w", w.command[0], err)
	}
	w.cmd, w.stdin, w.stdout, w.out, w.enc = cmd, stdin, outR, bufio.NewReader(outR), json.NewEncoder(stdin)
	return nil
}

// stop ends the child: closing its input ends its loop.
func (w *Worker) stop() {
	if w.cmd == nil {
		return
	}
	_ = w.stdin.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	_ = w.stdout.Close()
	w.cmd = nil
}

// Close stops the child process; comparisons after it run in the calling
// goroutine. Idempotent.
func (w *Worker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.stop()
	return nil
}

// ServeWorker is the child's side: it lowers its own priority, then answers
// each request on r (one JSON object per line) with "1" or "0" on a line of
// out, until r ends.
func ServeWorker(r io.Reader, out io.Writer) error {
	lowerPriority()
	dec := json.NewDecoder(bufio.NewReader(r))
	bw := bufio.NewWriter(out)
	for {
		var req workerRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		answer := "0\n"
		if bcrypt.CompareHashAndPassword(req.Hash, req.Password) == nil {
			answer = "1\n"
		}
		if _, err := bw.WriteString(answer); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}
