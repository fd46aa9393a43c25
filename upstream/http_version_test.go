package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/upstream"
)

// versionServer is a remote-write receiver that records the versions it
// is sent. rw1Only makes it answer 415 to 2.0; silent makes it a 1.0
// receiver that ignores the Content-Type, as old receivers do.
type versionServer struct {
	rw1Only, silent bool

	mu       sync.Mutex
	versions []string // Content-Type proto of every request
	rw1      []prompb.WriteRequest
}

func (s *versionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rw2 := upstream.IsRW2(r.Header)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions = append(s.versions, r.Header.Get("X-Prometheus-Remote-Write-Version"))
	if rw2 && s.rw1Only && !s.silent {
		http.Error(w, "unsupported", http.StatusUnsupportedMediaType)
		return
	}
	if rw2 && !s.silent {
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", "1")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.rw1 = append(s.rw1, wr)
	w.WriteHeader(http.StatusOK)
}

func rw2Request(t *testing.T) *upstream.Request {
	t.Helper()
	st := writev2.NewSymbolTable()
	req := writev2.Request{Timeseries: []writev2.TimeSeries{{
		LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "up", "job", "a"), nil),
		Samples:    []writev2.Sample{{Value: 1, Timestamp: 1000}},
	}}}
	req.Symbols = st.Symbols()
	raw, err := req.Marshal()
	require.NoError(t, err)
	h := http.Header{}
	h.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
	return &upstream.Request{Tenant: "t", Header: h, Body: snappy.Encode(nil, raw)}
}

func TestHTTPRemoteWriteVersion(t *testing.T) {
	wantRW1 := []prompb.WriteRequest{{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}},
	}}}}
	for name, tc := range map[string]struct {
		version      string
		rw1Only      bool
		silent       bool
		wantVersions []string // over two pushes
		wantRW1      int
	}{
		"auto, 2.0 upstream":                 {version: "auto", wantVersions: []string{"2.0.0", "2.0.0"}},
		"auto, 415 is remembered":            {version: "auto", rw1Only: true, wantVersions: []string{"2.0.0", "0.1.0", "0.1.0"}, wantRW1: 2},
		"auto, 2xx without written headers":  {version: "auto", silent: true, wantVersions: []string{"2.0.0", "0.1.0", "0.1.0"}, wantRW1: 2},
		"1 always converts":                  {version: "1", rw1Only: true, wantVersions: []string{"0.1.0", "0.1.0"}, wantRW1: 2},
		"2 never converts, 415 is passed on": {version: "2", rw1Only: true, wantVersions: []string{"2.0.0", "2.0.0"}},
	} {
		t.Run(name, func(t *testing.T) {
			vs := &versionServer{rw1Only: tc.rw1Only, silent: tc.silent}
			srv := httptest.NewServer(vs)
			defer srv.Close()
			u, err := upstream.NewHTTP(upstream.Config{URL: srv.URL, Timeout: 5 * time.Second, MaxResponseBytes: 1 << 20, RemoteWriteVersion: tc.version}, nil)
			require.NoError(t, err)
			for range 2 {
				resp, err := u.Push(context.Background(), rw2Request(t))
				require.NoError(t, err)
				if tc.version == "2" && tc.rw1Only {
					require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
				} else {
					require.Equal(t, 2, resp.StatusCode/100, string(resp.Body))
				}
			}
			require.Equal(t, tc.wantVersions, vs.versions)
			// A receiver that ignores the Content-Type finds no 1.0 series in
			// a 2.0 body; only the converted requests carry data.
			var withData []prompb.WriteRequest
			for _, got := range vs.rw1 {
				if len(got.Timeseries) > 0 {
					withData = append(withData, got)
				}
			}
			require.Len(t, withData, tc.wantRW1)
			for _, got := range withData {
				require.Equal(t, wantRW1[0].Timeseries, got.Timeseries)
			}
		})
	}
}

func TestRemoteWriteVersionFlagIsValidated(t *testing.T) {
	cfg := upstream.Config{Timeout: time.Second, RemoteWriteVersion: "3"}
	require.ErrorContains(t, cfg.Validate(), "-upstream.remote-write-version")
}
