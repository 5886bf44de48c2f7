//go:build !race

package crmsync_test

const raceEnabled = false
