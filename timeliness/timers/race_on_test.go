//go:build race

package timers_test

const raceEnabled = true
