package httpapi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator"
)

func TestNegotiate(t *testing.T) {
	const (
		rw1 = validator.RW1
		rw2 = validator.RW2
	)
	for _, tc := range []struct {
		contentType, encoding, version string
		want                           validator.Version
		wantErr                        validator.ErrorID
	}{
		// Remote write 1.0, every way senders spell it.
		{contentType: "", want: rw1},
		{contentType: "application/x-protobuf", encoding: "snappy", version: "0.1.0", want: rw1},
		{contentType: "application/x-protobuf;proto=prometheus.WriteRequest", encoding: "snappy", want: rw1},
		{contentType: "application/x-protobuf; proto=prometheus.WriteRequest", encoding: "SNAPPY", want: rw1},
		{contentType: "application/x-protobuf", encoding: "", want: rw1},
		// The Content-Type decides, not the version header.
		{contentType: "application/x-protobuf", encoding: "snappy", version: "2.0.0", want: rw1},
		// Remote write 2.0.
		{contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request", encoding: "snappy", version: "2.0.0", want: rw2},
		{contentType: `application/x-protobuf; proto="io.prometheus.write.v2.Request"`, encoding: "snappy", want: rw2},
		{contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request", encoding: "", version: "0.1.0", want: rw2},
		// Everything else is 415.
		{contentType: "application/x-protobuf;proto=io.prometheus.write.v3.Request", encoding: "snappy", wantErr: validator.ErrIDUnsupportedContentType},
		{contentType: "application/x-protobuf;proto=", encoding: "snappy", wantErr: validator.ErrIDUnsupportedContentType},
		{contentType: "application/json", encoding: "snappy", wantErr: validator.ErrIDUnsupportedContentType},
		{contentType: "text/plain", wantErr: validator.ErrIDUnsupportedContentType},
		{contentType: "application/x-protobuf;;;", wantErr: validator.ErrIDUnsupportedContentType},
		{contentType: "application/x-protobuf", encoding: "gzip", wantErr: validator.ErrIDUnsupportedEncoding},
		{contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request", encoding: "zstd", wantErr: validator.ErrIDUnsupportedEncoding},
		{contentType: "", encoding: "identity", wantErr: validator.ErrIDUnsupportedEncoding},
	} {
		t.Run(tc.contentType+"|"+tc.encoding+"|"+tc.version, func(t *testing.T) {
			h := http.Header{}
			for k, v := range map[string]string{"Content-Type": tc.contentType, "Content-Encoding": tc.encoding, "X-Prometheus-Remote-Write-Version": tc.version} {
				if v != "" {
					h.Set(k, v)
				}
			}
			got, err := negotiate(h)
			if tc.wantErr != "" {
				require.Error(t, err)
				require.Equal(t, tc.wantErr, validator.IDOf(err))
				require.Equal(t, http.StatusUnsupportedMediaType, statusOf(err))
				require.Contains(t, err.Error(), "(err-pushguard-"+string(tc.wantErr)+")")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
