package grpcapi

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/validator"
)

func TestStatusError(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		code codes.Code
		msg  string
	}{
		"bad data":    {validator.NewError(validator.ErrIDBadProtobuf, validator.CauseBadData, nil, "bad"), codes.InvalidArgument, "bad (err-pushguard-bad-protobuf)"},
		"too large":   {validator.NewError(validator.ErrIDRequestTooLarge, validator.CauseTooLarge, nil, "big"), codes.InvalidArgument, "big (err-pushguard-request-too-large)"},
		"no tenant":   {validator.NewError(validator.ErrIDMissingTenant, validator.CauseUnauthorized, nil, "who"), codes.Unauthenticated, "who (err-pushguard-missing-tenant)"},
		"unavailable": {validator.NewError(validator.ErrIDUpstreamUnavailable, validator.CauseUnavailable, errors.New("refused"), "upstream"), codes.Unavailable, "upstream: refused (err-pushguard-upstream-unavailable)"},
		"bad gateway": {validator.NewError(validator.ErrIDUpstreamRedirect, validator.CauseBadGateway, nil, "redirected"), codes.Unavailable, "redirected (err-pushguard-upstream-redirect)"},
		"internal":    {errors.New("secret detail"), codes.Internal, "internal error (err-pushguard-internal)"},
	} {
		t.Run(name, func(t *testing.T) {
			st := status.Convert(statusError(tc.err))
			require.Equal(t, tc.code, st.Code())
			require.Equal(t, tc.msg, st.Message())
		})
	}
}

func TestUpstreamError(t *testing.T) {
	for code, want := range map[int]codes.Code{
		400: codes.InvalidArgument,
		401: codes.Unauthenticated,
		403: codes.PermissionDenied,
		429: codes.ResourceExhausted,
		500: codes.Unavailable,
		503: codes.Unavailable,
	} {
		require.Equal(t, want, status.Code(upstreamError(code, []byte("x"))), "HTTP %d", code)
	}
	require.Contains(t, upstreamError(502, nil).Error(), "Bad Gateway")
}
