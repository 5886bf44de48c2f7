//go:build race

package phone

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = true
