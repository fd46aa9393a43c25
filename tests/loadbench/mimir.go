package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pushguard/pushguard/tests/e2e"
)

// mimirLimits lift what a Mimir limits per tenant by default (an ingestion
// rate of 10,000 samples/s, 150,000 series), which the load would run
// into. Every pass over the bodies is a new tenant (see run), so Mimir
// creates each body's series once per pass and appends to them after;
// pushes of one tenant that overtake each other are taken as out of order
// within the window.
var mimirLimits = []string{
	"-distributor.ingestion-rate-limit=1e12",
	"-distributor.ingestion-burst-size=1000000000000",
	"-distributor.request-rate-limit=0",
	"-ingester.max-global-series-per-user=0",
	"-ingester.max-global-series-per-metric=0",
	"-ingester.out-of-order-time-window=1h",
}

// startMimir runs the Mimir binary bin as one process on loopback, as the
// upstream, and waits until it is ready. The cleanup stops it and removes
// its state.
func startMimir(bin string) (helper, func(), error) {
	if bin == "" {
		return helper{}, nil, errors.New("the mimir upstream needs -mimir, the Mimir binary (make mimir builds one)")
	}
	dir, err := os.MkdirTemp("", "loadbench-mimir-*")
	if err != nil {
		return helper{}, nil, err
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			os.RemoveAll(dir)
			return helper{}, nil, err
		}
	}
	args, err := e2e.MimirArgs(bin, dir, ports[0], ports[1], ports[2])
	if err != nil {
		os.RemoveAll(dir)
		return helper{}, nil, err
	}
	cmd := exec.Command(bin, append(args, mimirLimits...)...)
	var logs e2e.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return helper{}, nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	cleanup := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	h := helper{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			os.RemoveAll(dir)
			return helper{}, nil, fmt.Errorf("mimir exited before it was ready:\n%s", tail(logs.String(), 4000))
		default:
		}
		if resp, err := http.Get("http://" + h.addr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h, cleanup, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cleanup()
	return helper{}, nil, fmt.Errorf("mimir at %s not ready after 3 minutes:\n%s", h.addr, tail(logs.String(), 4000))
}

// tail is the end of s, at most n bytes from a line start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
