package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// load is a set of pre-encoded remote-write bodies, so that the driver
// spends its CPU on sending, not on encoding.
type load struct {
	bodies  [][]byte
	samples int
}

var metrics = []string{
	"kube_pod_container_status_restarts_total", "kube_pod_status_phase", "kube_job_status_failed",
	"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "kube_deployment_status_replicas",
}

// newLoad builds n bodies of series KSM/cAdvisor-like series each, every
// body at its own scrape timestamp (15 s apart from base on), with a
// fraction dup of the series repeated later in the request with another
// value. The repeated series are the same in every body, as an exporter
// that sends duplicates sends them every scrape, unless churn draws them
// anew for each body.
func newLoad(series, n int, dup float64, churn bool, base time.Time) *load {
	rng := rand.New(rand.NewPCG(1, uint64(dup*1e6)))
	dups := int(float64(series) * dup)
	repeated := rng.Perm(series)[:dups]
	l := &load{}
	for b := 0; b < n; b++ {
		at := base.UnixMilli() + int64(b)*15000
		ts := make([]prompb.TimeSeries, 0, series+dups)
		for i := 0; i < series; i++ {
			ts = append(ts, seriesAt(i, at, rng.Float64()*100))
		}
		if churn {
			repeated = rng.Perm(series)[:dups]
		}
		for _, i := range repeated {
			ts = append(ts, seriesAt(i, at, rng.Float64()*100))
		}
		wr := prompb.WriteRequest{Timeseries: ts}
		raw, err := wr.Marshal()
		if err != nil {
			panic(err)
		}
		l.bodies = append(l.bodies, snappy.Encode(nil, raw))
		l.samples = len(ts)
	}
	return l
}

func seriesAt(i int, at int64, v float64) prompb.TimeSeries {
	ns := fmt.Sprintf("team-%02d", i%37)
	pod := fmt.Sprintf("api-%d-7c9f8d6b5-%05d", i%53, i)
	return prompb.TimeSeries{
		Labels: []prompb.Label{
			{Name: "__name__", Value: metrics[i%len(metrics)]},
			{Name: "container", Value: "app"},
			{Name: "endpoint", Value: "http-metrics"},
			{Name: "instance", Value: fmt.Sprintf("10.2.%d.%d:8080", i%200, i%250)},
			{Name: "job", Value: "kube-state-metrics"},
			{Name: "namespace", Value: ns},
			{Name: "node", Value: fmt.Sprintf("node-%03d", i%97)},
			{Name: "pod", Value: pod},
			{Name: "service", Value: "kube-state-metrics"},
			{Name: "uid", Value: fmt.Sprintf("7f0c6a1e-%04d-4c9b-9a51-%012d", i%9999, i)},
		},
		Samples: []prompb.Sample{{Value: v, Timestamp: at}},
	}
}
