// Package procs sizes GOMAXPROCS for programs that block in disk syscalls.
//
// A goroutine in fdatasync keeps its P (the runtime's right to run Go code)
// until the runtime's monitor takes it back, and the monitor leaves it alone
// for up to 10 ms while another P looks idle. With GOMAXPROCS equal to the
// two cores of a small machine, the gateway's store writer in its fsync left
// one P for everything else: goroutines made runnable meanwhile (a socket's
// writer, a committed message's handler) waited. Measured on the live chat
// (docs/benchmarks.md, "Where a chat message waits"): the time a frame waits for its
// socket's writer went from p99 1.7–2.0 ms to 0.5–0.6 ms with two extra Ps,
// and the delivery p99 fell with it; the threads beyond the cores cost
// nothing while they sleep in the kernel.
package procs

import (
	"os"
	"runtime"
)

// AddForBlocking raises GOMAXPROCS by extra over the runtime's default
// (the CPUs this process may use, cgroup limits included) and returns the
// value in force. A GOMAXPROCS environment variable wins: nothing changes.
// Once set, the runtime no longer follows a changed CPU limit by itself
// (Go 1.25): a restart takes up the new one.
func AddForBlocking(extra int) int {
	return add(os.Getenv("GOMAXPROCS") != "", extra, runtime.GOMAXPROCS)
}

func add(envSet bool, extra int, gomaxprocs func(int) int) int {
	cur := gomaxprocs(0)
	if envSet || extra <= 0 {
		return cur
	}
	gomaxprocs(cur + extra)
	return cur + extra
}
