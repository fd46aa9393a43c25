package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"

	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
)

func marshalWR(t testing.TB, series ...prompb.TimeSeries) []byte {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: series}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	return raw
}

// hostileLabels returns a series with n labels.
func hostileLabels(n int) prompb.TimeSeries {
	s := prompb.TimeSeries{Samples: []prompb.Sample{{Value: 1, Timestamp: 1}}}
	s.Labels = append(s.Labels, prompb.Label{Name: "__name__", Value: "m"})
	for i := 1; i < n; i++ {
		s.Labels = append(s.Labels, prompb.Label{Name: fmt.Sprintf("l%06d", i), Value: "v"})
	}
	return s
}

// memstat returns a go_memstats gauge of the running pushguard.
func (inst *instance) memstat(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(inst.url("/metrics"))
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestHostileInput sends what a broken sender or an attacker might: each is
// answered 4xx with its stable error ID, the process stays up and its
// memory stays bounded.
func TestHostileInput(t *testing.T) {
	up := startFaultUpstream(t, nil)
	up.recordOnly = true
	const maxBytes = 8 << 20
	inst := startPushguard(t, "-upstream.url="+up.URL,
		fmt.Sprintf("-validator.max-request-bytes=%d", maxBytes),
		"-validator.max-series-per-request=10000")
	rw1 := map[string]string{"X-Scope-OrgID": "t", "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
	valid := marshalWR(t, ts(1, time.Now(), "__name__", "up", "job", "j"))

	tooManySeries := bytes.Repeat([]byte{0x0a, 0x00}, 10001)      // 10001 empty TimeSeries
	wrongSampleType := []byte{0x0a, 0x04, 0x12, 0x02, 0x08, 0x01} // a sample's value as a varint
	for _, tc := range []struct {
		name    string
		body    []byte
		headers map[string]string
		status  int
		id      string
	}{
		{"bad snappy", []byte("this is not snappy at all"), rw1, http.StatusBadRequest, "bad-snappy"},
		// The snappy block format cannot say 4 GiB: its header is invalid.
		{"snappy header claiming 4 GiB", append(protowire.AppendVarint(nil, 4<<30), 0x00, 0x01), rw1, http.StatusBadRequest, "bad-snappy"},
		// One byte less is valid, and refused before anything is allocated.
		{"snappy header claiming 4 GiB - 1", append(protowire.AppendVarint(nil, 4<<30-1), 0x00, 0x01), rw1, http.StatusRequestEntityTooLarge, "request-too-large"},
		{"snappy header lying about the size", append(protowire.AppendVarint(nil, 1000), 0x00, 0x01), rw1, http.StatusBadRequest, "bad-snappy"},
		{"decompresses past the limit", snappyEncode(make([]byte, maxBytes+1)), rw1, http.StatusRequestEntityTooLarge, "request-too-large"},
		{"compressed past the limit", make([]byte, maxBytes+1), rw1, http.StatusRequestEntityTooLarge, "request-too-large"},
		{"truncated protobuf", snappyEncode(valid[:len(valid)/2]), rw1, http.StatusBadRequest, "bad-protobuf"},
		{"timeseries with the wrong wire type", snappyEncode([]byte{0x08, 0x01}), rw1, http.StatusBadRequest, "bad-protobuf"},
		{"sample value with the wrong wire type", snappyEncode(wrongSampleType), rw1, http.StatusBadRequest, "bad-protobuf"},
		{"length past the end", snappyEncode([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}), rw1, http.StatusBadRequest, "bad-protobuf"},
		{"100k labels in one series", snappyEncode(marshalWR(t, hostileLabels(100_000))), rw1, http.StatusBadRequest, "max-label-names-per-series"},
		{"too many series", snappyEncode(tooManySeries), rw1, http.StatusRequestEntityTooLarge, "max-series-per-request"},
		{"unknown Content-Type", snappyEncode(valid), map[string]string{"X-Scope-OrgID": "t", "Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, "unsupported-content-type"},
		{"unknown Content-Encoding", snappyEncode(valid), map[string]string{"X-Scope-OrgID": "t", "Content-Encoding": "zstd"}, http.StatusUnsupportedMediaType, "unsupported-content-encoding"},
		{"unparsable Content-Type", snappyEncode(valid), map[string]string{"X-Scope-OrgID": "t", "Content-Type": "application/x-protobuf; ===="}, http.StatusUnsupportedMediaType, "unsupported-content-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := inst.rawPush(t, tc.body, tc.headers)
			require.Equal(t, tc.status, status, body)
			require.Contains(t, body, "(err-pushguard-"+tc.id+")")
		})
	}
	up.mu.Lock()
	require.Zero(t, up.requests, "nothing refused reaches the upstream")
	up.mu.Unlock()

	// The process is up and never took memory for what the headers claimed.
	resp, err := http.Get(inst.url("/ready"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sys := inst.memstat(t, "go_memstats_sys_bytes")
	t.Logf("memory obtained from the OS after the hostile inputs: %.0f MiB", sys/(1<<20))
	require.Less(t, sys, float64(512<<20), "memory stays bounded")
}

// TestWellFormedInputForTheUpstreamToJudge: input that is well-formed but
// that Mimir may refuse per series is not pushguard's to refuse, since a
// 4xx would make the sender drop the whole batch. It is forwarded as it
// came, and shown escaped in the report.
func TestWellFormedInputForTheUpstreamToJudge(t *testing.T) {
	up := startFaultUpstream(t, nil)
	up.recordOnly = true
	inst := startPushguard(t, "-upstream.url="+up.URL)
	rw1 := map[string]string{"X-Scope-OrgID": "t", "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "User-Agent": "agent\xfe"}
	at := time.Now()
	invalidUTF8 := ts(1, at, "__name__", "m", "job", "bad\xff\xfeutf8<script>alert(1)</script>")
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"invalid UTF-8 in a label value", snappyEncode(marshalWR(t, invalidUTF8, ts(2, at, "__name__", "m", "job", "bad\xff\xfeutf8<script>alert(1)</script>")))},
		{"labels out of order", snappyEncode(marshalWR(t, ts(1, at, "job", "j", "__name__", "m", "a", "b")))},
		{"a label name twice", snappyEncode(marshalWR(t, ts(1, at, "__name__", "m", "job", "a", "job", "b")))},
		{"no labels at all", snappyEncode(marshalWR(t, prompb.TimeSeries{Samples: []prompb.Sample{{Value: 1, Timestamp: 1}}}))},
		{"an empty request", snappyEncode(nil)},
		{"an empty body", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := inst.rawPush(t, tc.body, rw1)
			require.Equal(t, http.StatusOK, status, body)
			up.mu.Lock()
			defer up.mu.Unlock()
			require.Equal(t, tc.body, up.bodies[len(up.bodies)-1], "forwarded byte for byte")
		})
	}

	// The report shows the invalid UTF-8 and the markup escaped.
	req, err := http.NewRequest(http.MethodGet, inst.url("/api/v1/offenders"), nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", "t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.True(t, json.Valid(raw), string(raw))
	require.NotContains(t, string(raw), "<script>")
	require.NotContains(t, string(raw), "\xff")
	var rep offendersBody
	require.NoError(t, json.Unmarshal(raw, &rep))
	require.Len(t, rep.Offenders, 1)
	require.Equal(t, "bad\ufffd\ufffdutf8<script>alert(1)</script>", rep.Offenders[0].Origin["job"])
	require.Equal(t, "agent\ufffd", rep.Offenders[0].UserAgent)

	// gRPC's ListOffenders answers the same, though a protobuf string
	// must be UTF-8.
	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	list, err := pushguardv1.NewValidatorServiceClient(conn).ListOffenders(withTenant("t"), &pushguardv1.ListOffendersRequest{})
	require.NoError(t, err)
	require.Equal(t, withoutPerMinute(rep), withoutPerMinute(offendersBodyOf(list)))

	// So does the HTML report.
	req, err = http.NewRequest(http.MethodGet, inst.url("/"), nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", "t")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	html, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(html), "utf8&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, string(html), "<script>alert(1)")
}

// TestInflightLimit: over -validator.max-inflight-push-requests a push is
// answered 503 with Retry-After, which senders retry: Prometheus drops a
// batch answered 429 unless its retry_on_http_429 is set.
func TestInflightLimit(t *testing.T) {
	url, arrived, release, got := slowUpstream(t)
	inst := startPushguard(t, "-upstream.url="+url, "-validator.max-inflight-push-requests=1")
	body := snappyEncode(marshalWR(t, ts(1, time.Now(), "__name__", "up")))
	hdr := map[string]string{"X-Scope-OrgID": "t"}
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, inst.url("/api/v1/push"), bytes.NewReader(body))
		req.Header.Set("X-Scope-OrgID", "t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	req, err := http.NewRequest(http.MethodPost, inst.url("/api/v1/push"), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", "t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(msg))
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Contains(t, string(msg), "(err-pushguard-too-many-inflight-pushes)")

	close(release)
	require.Equal(t, http.StatusOK, <-done)
	<-got
	status, msg2 := inst.rawPush(t, body, hdr)
	<-got
	require.Equal(t, http.StatusOK, status, msg2, "the place is free again once the first push is answered")
}
