package httpapi

import (
	"net/http"
	"strconv"

	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// negotiate picks the remote-write version of a push from its headers.
func negotiate(h http.Header) (validator.Version, error) {
	return validator.Negotiate(h.Get("Content-Type"), h.Get("Content-Encoding"))
}

// The remote write 2.0 response headers.
const (
	writtenSamplesHeader    = "X-Prometheus-Remote-Write-Samples-Written"
	writtenHistogramsHeader = "X-Prometheus-Remote-Write-Histograms-Written"
	writtenExemplarsHeader  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// writtenByUpstream returns what the upstream's answer says it wrote: its
// written headers when it sent any (a 2.0 receiver, even on error), all it
// was sent when it accepted the push without them (a 1.0 receiver: 2xx
// means everything), and nothing known otherwise.
func writtenByUpstream(resp *upstream.Response, forwarded validator.Counts) (validator.Counts, bool) {
	var c validator.Counts
	found := false
	for _, f := range []struct {
		name string
		n    *int
	}{{writtenSamplesHeader, &c.Samples}, {writtenHistogramsHeader, &c.Histograms}, {writtenExemplarsHeader, &c.Exemplars}} {
		if v := resp.Header.Get(f.name); v != "" {
			found = true
			*f.n, _ = strconv.Atoi(v)
		}
	}
	if found {
		return c, true
	}
	if resp.StatusCode/100 == 2 {
		return forwarded, true
	}
	return c, false
}

// setWritten sets the written headers a 2.0 sender gets.
func setWritten(h http.Header, c validator.Counts) {
	h.Set(writtenSamplesHeader, strconv.Itoa(c.Samples))
	h.Set(writtenHistogramsHeader, strconv.Itoa(c.Histograms))
	h.Set(writtenExemplarsHeader, strconv.Itoa(c.Exemplars))
}
