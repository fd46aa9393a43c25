package validator

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

const (
	benchSeries      = 2000
	benchScrapeMs    = 1732968015000
	benchDupsDefault = benchSeries / 1000 // 0.1%
)

// benchMetrics are kube-state-metrics and cAdvisor metrics with the labels
// they add to the common target labels.
var benchMetrics = []struct {
	name, job string
	extra     []string
}{
	{"kube_pod_container_status_restarts_total", "kube-state-metrics", []string{"reason"}},
	{"kube_pod_status_phase", "kube-state-metrics", []string{"phase"}},
	{"kube_job_status_failed", "kube-state-metrics", []string{"job_name", "reason"}},
	{"kube_pod_container_resource_requests", "kube-state-metrics", []string{"resource", "unit"}},
	{"container_cpu_usage_seconds_total", "kubelet", []string{"cpu"}},
	{"container_memory_working_set_bytes", "kubelet", []string{"image"}},
	{"container_network_receive_bytes_total", "kubelet", []string{"interface", "image"}},
}

var benchExtraValues = map[string][]string{
	"reason":    {"BackoffLimitExceeded", "DeadlineExceeded", "OOMKilled", "Error", "Completed"},
	"job_name":  {"renovate-28883520", "renovate-28883535", "backup-28883400", "db-migrate-4f2a1"},
	"phase":     {"Pending", "Running", "Succeeded", "Failed", "Unknown"},
	"resource":  {"cpu", "memory", "ephemeral_storage"},
	"unit":      {"core", "byte"},
	"cpu":       {"total"},
	"image":     {"registry.k8s.io/pause:3.10", "ghcr.io/renovatebot/renovate:39.42.4", "docker.io/grafana/alloy:v1.5.0"},
	"interface": {"eth0", "cni0"},
}

// benchRequest returns a snappy-compressed remote-write request shaped like
// one scrape of kube-state-metrics and cAdvisor: n series of 11-12 sorted
// labels, one sample each at the scrape timestamp; dups of them are repeated
// later in the request with another value.
func benchRequest(tb testing.TB, n, dups int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(42, uint64(dups)))
	hex := func(k int) string {
		const digits = "0123456789abcdef"
		var b strings.Builder
		for range k {
			b.WriteByte(digits[rng.IntN(16)])
		}
		return b.String()
	}
	namespaces := []string{"default", "kube-system", "monitoring", "renovate", "payments", "checkout", "search", "ingress-nginx", "cert-manager", "argocd"}
	apps := []string{"api", "worker", "frontend", "redis", "postgres", "nginx", "renovate", "alloy"}

	in := make([]prompb.TimeSeries, 0, n)
	for i := range n - dups {
		m := benchMetrics[rng.IntN(len(benchMetrics))]
		app := apps[rng.IntN(len(apps))]
		node := fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal", rng.IntN(8), rng.IntN(250))
		lbls := []string{
			"__name__", m.name,
			"job", m.job,
			"instance", fmt.Sprintf("10.0.%d.%d:8080", rng.IntN(8), rng.IntN(250)),
			"namespace", namespaces[rng.IntN(len(namespaces))],
			"pod", fmt.Sprintf("%s-%s-%s", app, hex(10), hex(5)),
			"container", app,
			"uid", fmt.Sprintf("%s-%s-%s-%s-%s", hex(8), hex(4), hex(4), hex(4), hex(12)),
			"node", node,
			"endpoint", "https-metrics",
			"service", m.job,
		}
		for _, e := range m.extra {
			vs := benchExtraValues[e]
			lbls = append(lbls, e, vs[rng.IntN(len(vs))])
		}
		ts := series(lbls...)
		slices.SortFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		in = append(in, withSamples(ts, benchScrapeMs, float64(i%7)))
	}
	// Distinct originals, last first, so that inserting a repeat somewhere
	// after its original does not move the originals still to repeat.
	srcs := rng.Perm(len(in))[:dups]
	slices.Sort(srcs)
	for _, src := range slices.Backward(srcs) {
		dup := withSamples(prompb.TimeSeries{Labels: in[src].Labels}, benchScrapeMs, in[src].Samples[0].Value+1)
		in = slices.Insert(in, src+1+rng.IntN(len(in)-src), dup)
	}
	return marshal(tb, in...)
}

// inspectBench is the hot path of a push: decompress, decode, inspect, all
// into reused buffers.
type inspectBench struct {
	body      []byte
	inspector *Inspector
	req       Request
	res       Result
	// record, when set, is looked up as well.
	record     *SeriesRecord
	tenantHash uint64
}

func (ib *inspectBench) run() error {
	if err := Decompress(ib.body, 0, &ib.req); err != nil {
		return err
	}
	if err := DecodeRW1(&ib.req); err != nil {
		return err
	}
	ib.inspector.Inspect(&ib.req, &ib.res)
	if ib.record != nil {
		ib.record.InspectAcross(ib.tenantHash, &ib.req, &ib.res, t0)
	}
	return nil
}

func newInspectBench(tb testing.TB, dups int) *inspectBench {
	ib := &inspectBench{body: benchRequest(tb, benchSeries, dups), inspector: NewInspector(NewIdentity(nil))}
	// Warm up: the first run grows the reused buffers.
	require.NoError(tb, ib.run())
	require.Len(tb, ib.req.Series, benchSeries)
	require.Len(tb, ib.res.Duplicates, dups)
	return ib
}

func TestInspectDoesNotAllocate(t *testing.T) {
	ib := newInspectBench(t, benchDupsDefault)
	allocs := testing.AllocsPerRun(20, func() {
		if err := ib.run(); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkInspect(b *testing.B) {
	ib := newInspectBench(b, benchDupsDefault)
	b.ReportAllocs()
	b.SetBytes(int64(len(ib.body)))
	for b.Loop() {
		if err := ib.run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectStages takes BenchmarkInspect apart: decompressing the
// body, decoding the request already in the buffer, and detecting the
// duplicates of the decoded request. Their sum falls short of
// BenchmarkInspect by what decoding a freshly written buffer costs more.
func BenchmarkInspectStages(b *testing.B) {
	ib := newInspectBench(b, benchDupsDefault)
	for _, stage := range []struct {
		name string
		run  func() error
	}{
		{"decompress", func() error { return Decompress(ib.body, 0, &ib.req) }},
		{"decode", func() error { return DecodeRW1(&ib.req) }},
		{"detect", func() error { ib.inspector.Inspect(&ib.req, &ib.res); return nil }},
	} {
		b.Run(stage.name, func(b *testing.B) {
			require.NoError(b, ib.run())
			b.ReportAllocs()
			b.SetBytes(int64(len(ib.body)))
			for b.Loop() {
				if err := stage.run(); err != nil {
					b.Fatal(err)
				}
			}
			require.Len(b, ib.res.Duplicates, benchDupsDefault)
		})
	}
}

// BenchmarkInspectBaseline is what a proxy that decodes the request with the
// generated Prometheus code does, before it even looks for duplicates.
func BenchmarkInspectBaseline(b *testing.B) {
	benchBaseline(b, benchRequest(b, benchSeries, benchDupsDefault), func(raw []byte) error {
		var wr prompb.WriteRequest
		return wr.Unmarshal(raw)
	})
}

// benchBaseline measures decompressing body and unmarshalling it.
func benchBaseline(b *testing.B, body []byte, unmarshal func([]byte) error) {
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		raw, err := snappy.Decode(buf[:cap(buf)], body)
		if err != nil {
			b.Fatal(err)
		}
		buf = raw
		if err := unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}

var benchDupRates = []struct {
	name string
	dups int
}{
	{"duplicates=0.1%", benchDupsDefault},
	{"duplicates=5%", benchSeries / 20},
	{"duplicates=10%", benchSeries / 10},
}

// BenchmarkPatchKeepFirst plans keep-first and encodes the patched
// request. splice is what a push does (EncodeFrom: the sender's
// compression reused); compress-anew, the baseline, compresses the whole
// patched request again (Encode).
func BenchmarkPatchKeepFirst(b *testing.B) {
	for _, rate := range benchDupRates {
		for _, mode := range []string{"compress-anew", "splice"} {
			b.Run(rate.name+"/"+mode, func(b *testing.B) {
				ib := newInspectBench(b, rate.dups)
				var p Patch
				policy := StaticPolicy(ActionKeepFirst)
				encode := func() []byte { return p.Encode(&ib.req) }
				if mode == "splice" {
					encode = func() []byte { return p.EncodeFrom(&ib.req, ib.body) }
				}
				// Warm up: the first Encode grows the patch's buffers.
				require.True(b, p.Plan(&ib.req, &ib.res, policy))
				encode()
				b.ReportAllocs()
				b.SetBytes(int64(len(ib.body)))
				var size int
				for b.Loop() {
					if !p.Plan(&ib.req, &ib.res, policy) {
						b.Fatal("nothing to patch")
					}
					size = len(encode())
				}
				require.Equal(b, rate.dups, p.Dropped)
				b.ReportMetric(float64(size), "body-bytes")
			})
		}
	}
}

// BenchmarkRecord counts and reports a push's duplicates: offenders the
// report already holds, and (new-offenders) a report too small to keep
// them, as in a storm of offenders, where each is new to it.
func BenchmarkRecord(b *testing.B) {
	for _, rate := range benchDupRates {
		for _, store := range []struct{ name, max string }{{"", "1000"}, {"/new-offenders", "1"}} {
			b.Run(rate.name+store.name, func(b *testing.B) { benchRecord(b, rate.dups, store.max) })
		}
	}
}

func benchRecord(b *testing.B, dups int, maxOffenders string) {
	var cfg Config
	fs := flag.NewFlagSet("bench", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	require.NoError(b, fs.Parse([]string{"-validator.action=keep-first", "-validator.max-offenders-per-tenant=" + maxOffenders}))
	v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(b, err)

	body := benchRequest(b, benchSeries, dups)
	meta := Meta{Tenant: "team-a", UserAgent: "Prometheus/3.1.0"}
	c, err := v.Check(meta, RW1, body)
	require.NoError(b, err)
	defer c.Release()
	require.Len(b, c.Result.Duplicates, dups)

	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		v.Record(c, meta)
	}
}
