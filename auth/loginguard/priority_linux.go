package loginguard

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// lowerPriority puts every thread of this process in the SCHED_IDLE class
// (nice 19 where that is refused). SCHED_IDLE runs only on a core nothing
// else wants, and the kernel counts a core running only such threads as
// idle when it places a waking thread: at nice 19 the gateway's threads
// still queued behind the worker for a wake-up. On Linux the class belongs
// to a thread and a new thread takes its creator's, so the runtime's later
// threads inherit it.
func lowerPriority() {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if unix.SchedSetAttr(tid, &attr, 0) != nil {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
		}
	}
}
