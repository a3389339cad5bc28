//go:build !race

package livechat_test

const raceEnabled = false
