//go:build race

package report

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = true
