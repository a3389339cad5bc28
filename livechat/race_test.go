//go:build race

package livechat_test

// raceEnabled: the race detector enlarges goroutine stacks.
const raceEnabled = true
