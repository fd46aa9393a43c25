package validator

import (
	"bytes"
	"errors"
	"testing"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
)

func TestPublic(t *testing.T) {
	bad := NewError(ErrIDBadProtobuf, CauseBadData, errors.New("field 1"), "bad")
	require.Same(t, error(bad), Public(bad), "what the sender caused is shown as it is")

	for _, err := range []error{
		errors.New("secret detail"),
		NewError(ErrIDInternal, CauseInternal, errors.New("secret detail"), "rendering"),
	} {
		require.True(t, IsInternal(err))
		require.Equal(t, "internal error (err-pushguard-internal)", Public(err).Error())
		require.Equal(t, ErrIDInternal, IDOf(Public(err)))
	}
}

func TestLogRefused(t *testing.T) {
	var buf bytes.Buffer
	logger := log.NewLogfmtLogger(&buf)

	LogRefused(logger, "t1", NewError(ErrIDBadProtobuf, CauseBadData, nil, "bad"))
	require.Contains(t, buf.String(), "level=debug")
	require.Contains(t, buf.String(), "tenant=t1")

	buf.Reset()
	LogRefused(logger, "t1", errors.New("secret detail"))
	require.Contains(t, buf.String(), "level=error")
	require.Contains(t, buf.String(), "secret detail", "the log keeps the cause the sender is not told")
}
