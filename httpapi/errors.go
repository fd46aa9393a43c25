// Package httpapi is pushguard's HTTP side: the remote-write receiver, the
// offender JSON API, the HTML report and the mapping of errors to status
// codes.
package httpapi

import (
	"net/http"

	"github.com/pushguard/pushguard/validator"
)

// retryAfterSeconds is the Retry-After of pushguard's own retryable
// answers: short, since the condition (a burst, a restart, an upstream
// hiccup) usually passes quickly.
const retryAfterSeconds = "1"

// statusOf maps an error to the HTTP status the sender gets. Bad data is a
// 4xx so that senders do not retry it; everything pushguard or the upstream
// could not do is a 5xx so that they do.
func statusOf(err error) int {
	switch validator.CauseOf(err) {
	case validator.CauseBadData:
		return http.StatusBadRequest
	case validator.CauseUnauthorized:
		return http.StatusUnauthorized
	case validator.CauseUnsupported:
		return http.StatusUnsupportedMediaType
	case validator.CauseTooLarge:
		return http.StatusRequestEntityTooLarge
	case validator.CauseUnavailable:
		return http.StatusServiceUnavailable
	case validator.CauseBadGateway:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers err as plain text, as Mimir does; the cause of an
// internal error is not shown (callers log it).
func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	msg := validator.Public(err).Error()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if code == http.StatusServiceUnavailable {
		// Senders that honour it (Prometheus does) back off this long.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
