// Package report is the offender report's model and storage, apart from the
// decoding and inspection that produce it. It knows nothing of requests, HTTP
// or gRPC.
package report
