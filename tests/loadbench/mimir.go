package main

import (
	"errors"
	"os"

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
	p, addr, _, err := e2e.StartMimir(bin, dir, nil, mimirLimits...)
	if err != nil {
		os.RemoveAll(dir)
		return helper{}, nil, err
	}
	return helper{cmd: p.Cmd, addr: addr}, func() { p.Stop(); os.RemoveAll(dir) }, nil
}
