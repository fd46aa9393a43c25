package validator

import (
	"errors"
	"fmt"
)

// ErrorID is a stable error identifier. IDs are part of pushguard's contract:
// they appear in messages as "(err-pushguard-<id>)", never change once
// released and double as the "reason" label of metrics.
type ErrorID string

// Stable error IDs.
const (
	ErrIDMissingTenant            ErrorID = "missing-tenant"
	ErrIDInvalidTenant            ErrorID = "invalid-tenant"
	ErrIDBadSnappy                ErrorID = "bad-snappy"
	ErrIDBadProtobuf              ErrorID = "bad-protobuf"
	ErrIDUnsupportedEncoding      ErrorID = "unsupported-content-encoding"
	ErrIDUnsupportedContentType   ErrorID = "unsupported-content-type"
	ErrIDRequestTooLarge          ErrorID = "request-too-large"
	ErrIDSampleDuplicateTimestamp ErrorID = "sample-duplicate-timestamp"
	ErrIDUpstreamUnavailable      ErrorID = "upstream-unavailable"
	ErrIDUpstreamRedirect         ErrorID = "upstream-redirect"
	ErrIDReadBody                 ErrorID = "read-body"
	ErrIDBadQuery                 ErrorID = "bad-query"
	ErrIDInternal                 ErrorID = "internal"
	ErrIDMaxSeriesPerRequest      ErrorID = "max-series-per-request"
	ErrIDMaxLabelNamesPerSeries   ErrorID = "max-label-names-per-series"
	ErrIDTooManyInflightPushes    ErrorID = "too-many-inflight-pushes"
	ErrIDShuttingDown             ErrorID = "shutting-down"
	ErrIDInspectionFailed         ErrorID = "inspection-failed"
)

// Cause classifies an error so that the HTTP and gRPC layers can each map it
// to their status code in one place.
type Cause int

// Causes.
const (
	CauseInternal Cause = iota
	CauseBadData
	CauseUnauthorized
	CauseUnsupported
	CauseTooLarge
	CauseUnavailable
	// CauseBadGateway is an upstream answer that is no answer to a push,
	// such as a redirect: HTTP 502, gRPC Unavailable, both retried, so that
	// the sender keeps the samples until the upstream takes them.
	CauseBadGateway
)

// Error is an error a user can see: a message, a stable ID and a cause.
type Error struct {
	ID    ErrorID
	Cause Cause
	Msg   string
	Err   error
}

// Error renders the message the way Mimir does: "<message> (err-pushguard-<id>)".
func (e *Error) Error() string {
	msg := e.Msg
	if e.Err != nil {
		msg = fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return fmt.Sprintf("%s (err-pushguard-%s)", msg, e.ID)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// NewError returns an Error with the given ID and cause.
func NewError(id ErrorID, cause Cause, err error, format string, args ...any) *Error {
	return &Error{ID: id, Cause: cause, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CauseOf returns the cause of err, CauseInternal when err carries none.
func CauseOf(err error) Cause {
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	return CauseInternal
}

// Public returns what a client is told of err: err itself, or for a failure
// inside pushguard a bare internal error, whose cause is for the log only.
func Public(err error) error {
	if isInternal(err) {
		return NewError(ErrIDInternal, CauseInternal, nil, "internal error")
	}
	return err
}

// isInternal reports whether err is a failure inside pushguard rather than
// something the client or the upstream caused.
func isInternal(err error) bool {
	return IDOf(err) == ErrIDInternal && CauseOf(err) == CauseInternal
}

// IDOf returns the stable ID of err, ErrIDInternal when err carries none.
func IDOf(err error) ErrorID {
	var e *Error
	if errors.As(err, &e) {
		return e.ID
	}
	return ErrIDInternal
}
