package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator"
)

func TestWriteError(t *testing.T) {
	for name, tc := range map[string]struct {
		err    error
		status int
		body   string
	}{
		"bad data": {validator.NewError(validator.ErrIDBadProtobuf, validator.CauseBadData, errors.New("field 1"), "bad"),
			http.StatusBadRequest, "bad: field 1 (err-pushguard-bad-protobuf)\n"},
		"unavailable": {validator.NewError(validator.ErrIDUpstreamUnavailable, validator.CauseUnavailable, nil, "upstream"),
			http.StatusServiceUnavailable, "upstream (err-pushguard-upstream-unavailable)\n"},
		"bad gateway": {validator.NewError(validator.ErrIDUpstreamRedirect, validator.CauseBadGateway, nil, "redirected"),
			http.StatusBadGateway, "redirected (err-pushguard-upstream-redirect)\n"},
		// An internal failure's cause is for the log, as over gRPC.
		"internal":         {errors.New("secret detail"), http.StatusInternalServerError, "internal error (err-pushguard-internal)\n"},
		"internal wrapped": {validator.NewError(validator.ErrIDInternal, validator.CauseInternal, errors.New("secret detail"), "rendering"), http.StatusInternalServerError, "internal error (err-pushguard-internal)\n"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, tc.err)
			require.Equal(t, tc.status, rec.Code)
			require.Equal(t, tc.body, rec.Body.String())
			require.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
		})
	}
}
