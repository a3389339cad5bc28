//go:build !linux

package loginguard

// lowerPriority is a no-op where threads have no priority of their own: the
// pool's bound on concurrent checks remains.
func lowerPriority() {}
