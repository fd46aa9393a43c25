// Package report is the offender report's model and storage: the Offender
// records that say where duplicate samples come from, and the Store that
// merges them per tenant within fixed bounds, evicting the least recently
// seen and keeping a per-minute History of each. It knows nothing of how
// offenders are found (package validator builds them from a request's
// duplicates), nor of HTTP or gRPC.
package report
