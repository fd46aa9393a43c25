//go:build !race

package validator

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
