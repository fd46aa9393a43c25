package validator

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPublic(t *testing.T) {
	bad := NewError(ErrIDBadProtobuf, CauseBadData, errors.New("field 1"), "bad")
	require.Same(t, error(bad), Public(bad), "what the sender caused is shown as it is")

	for _, err := range []error{
		errors.New("secret detail"),
		NewError(ErrIDInternal, CauseInternal, errors.New("secret detail"), "rendering"),
	} {
		require.True(t, isInternal(err))
		require.Equal(t, "internal error (err-pushguard-internal)", Public(err).Error())
		require.Equal(t, ErrIDInternal, IDOf(Public(err)))
	}
}
