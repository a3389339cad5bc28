//go:build !linux

package loginguard

// lowerPriority is a no-op elsewhere: the pool's bound on concurrent
// checks remains.
func lowerPriority() {}
