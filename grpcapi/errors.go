// Package grpcapi is pushguard's gRPC side: pushguard.v1.ValidatorService,
// the Mimir-compatible distributor.Distributor/Push, health and reflection,
// and the mapping of errors to gRPC codes.
package grpcapi

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/validator"
)

// codeOf maps an error to the gRPC code the caller gets, as httpapi's
// statusOf maps it to HTTP. Bad data is InvalidArgument so that clients do
// not retry it; what pushguard or the upstream could not do is Unavailable
// so that they do.
func codeOf(err error) codes.Code {
	switch validator.CauseOf(err) {
	case validator.CauseBadData, validator.CauseUnsupported, validator.CauseTooLarge:
		return codes.InvalidArgument
	case validator.CauseUnauthorized:
		return codes.Unauthenticated
	case validator.CauseUnavailable, validator.CauseBadGateway:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// statusError turns err into a gRPC status error carrying its message and
// stable ID; internal details are not shown.
func statusError(err error) error { return statusOf(err).Err() }

func statusOf(err error) *status.Status {
	return status.New(codeOf(err), validator.Public(err).Error())
}

// upstreamError turns an upstream's non-2xx answer into the gRPC status a
// Mimir distributor would have answered: 5xx are Unavailable, so the
// client retries; 429 is ResourceExhausted; other 4xx are not retried.
func upstreamError(code int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	var c codes.Code
	switch {
	case code >= 500:
		c = codes.Unavailable
	case code == http.StatusTooManyRequests:
		c = codes.ResourceExhausted
	case code == http.StatusUnauthorized:
		c = codes.Unauthenticated
	case code == http.StatusForbidden:
		c = codes.PermissionDenied
	default:
		c = codes.InvalidArgument
	}
	return status.Errorf(c, "upstream answered %d: %s", code, msg)
}

// loggedStatus is the status of a push pushguard refused and has logged
// itself (the validator warns of refusals, naming the sender, within
// -validator.warn-log-rate; the receiver of upstream failures): dskit's
// gRPC request log, which would log it again at every call, leaves it out.
type loggedStatus struct{ st *status.Status }

func (e loggedStatus) Error() string                            { return e.st.Err().Error() }
func (e loggedStatus) GRPCStatus() *status.Status               { return e.st }
func (e loggedStatus) ShouldLog(context.Context) (bool, string) { return false, "" }
