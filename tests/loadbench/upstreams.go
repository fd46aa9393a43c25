package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// stubHandler returns the upstream. A "discard" stub reads the body and
// accepts it, like a distributor that costs nothing. A "decode" stub first
// does what every distributor does with a push: it decompresses the body and
// unmarshals it (with gogo's prompb), refusing what does not parse. The
// decode stub is the realistic one; the discard stub shows what is left of
// the write path when the upstream is free.
func stubHandler(kind string) (http.Handler, error) {
	switch kind {
	case "discard":
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		}), nil
	case "decode":
		var bufs sync.Pool
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := bufs.Get().(*bytes.Buffer)
			if b == nil {
				b = new(bytes.Buffer)
			}
			defer func() { b.Reset(); bufs.Put(b) }()
			if _, err := b.ReadFrom(r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if _, err := decodeWriteRequest(b.Bytes()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
		}), nil
	}
	return nil, fmt.Errorf("unknown stub upstream %q (want decode or discard)", kind)
}

func decodeWriteRequest(body []byte) (*prompb.WriteRequest, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, err
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		return nil, err
	}
	return &wr, nil
}

// newReencodeProxy is the reference a decoding proxy is held to: like
// cortex-tenant, it decompresses and unmarshals every push with gogo's
// prompb, marshals and compresses it again and forwards it.
func newReencodeProxy(target string) http.Handler {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100, MaxIdleConns: 200}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		wr, err := decodeWriteRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		raw, err := wr.Marshal()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, bytes.NewReader(snappy.Encode(nil, raw)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// processCPU returns the user and system CPU time process pid has used, from
// /proc (Linux).
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// The kernel counts in USER_HZ ticks, 100 a second on Linux.
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// cpuTimes is the CPU time spent by a target, the upstream behind it and
// the load driver, and the machine's idle and total CPU time, over the
// same span.
type cpuTimes struct {
	target, upstream, driver time.Duration
	idle, total              time.Duration
}

// cpuTimes reads the CPU times of ep's process, its upstream and this
// process so far, and of the whole machine. When ep is the upstream
// itself, no upstream time is counted apart: it is the target's.
func (ep *endpoint) cpuTimes() (cpuTimes, error) {
	var c cpuTimes
	var err error
	if c.target, err = processCPU(ep.pid); err != nil {
		return c, err
	}
	if ep.upstreamPid != ep.pid {
		if c.upstream, err = processCPU(ep.upstreamPid); err != nil {
			return c, err
		}
	}
	if c.driver, err = processCPU(os.Getpid()); err != nil {
		return c, err
	}
	c.idle, c.total, err = machineCPU()
	return c, err
}

func (c cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{c.target - o.target, c.upstream - o.upstream, c.driver - o.driver, c.idle - o.idle, c.total - o.total}
}

func (c cpuTimes) add(o cpuTimes) cpuTimes {
	return cpuTimes{c.target + o.target, c.upstream + o.upstream, c.driver + o.driver, c.idle + o.idle, c.total + o.total}
}

// idleShare is the share of the machine's CPU time that was idle.
func (c cpuTimes) idleShare() float64 {
	if c.total <= 0 {
		return 0
	}
	return float64(c.idle) / float64(c.total)
}

// machineCPU returns the idle (with I/O wait) and total CPU time of all
// the machine's CPUs, from the first line of /proc/stat.
func machineCPU() (idle, total time.Duration, err error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat")
	}
	var ticks int64
	for k, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected /proc/stat: %w", err)
		}
		// guest and guest_nice (fields 9 and 10) are already counted in
		// user and nice.
		if k < 8 {
			ticks += n
		}
		if k == 3 || k == 4 { // idle, iowait
			idle += time.Duration(n) * (time.Second / 100)
		}
	}
	return idle, time.Duration(ticks) * (time.Second / 100), nil
}

// scrapeGauge returns the value of an unlabelled metric from a Prometheus
// text exposition, or 0.
func scrapeGauge(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}
