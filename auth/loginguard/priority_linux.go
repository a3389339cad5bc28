package loginguard

import "syscall"

// lowerPriority gives the calling OS thread the lowest CPU priority (nice
// 19). On Linux, PRIO_PROCESS with a thread id affects that thread only.
// Best effort: a failure leaves the normal priority and the pool's bound.
func lowerPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}
