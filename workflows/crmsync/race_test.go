//go:build race

package crmsync_test

// raceEnabled: the race detector slows everything down several times.
const raceEnabled = true
