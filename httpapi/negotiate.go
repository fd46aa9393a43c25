package httpapi

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// negotiate picks the remote-write version of a push from its headers, as
// the remote write 2.0 specification has receivers do: the proto parameter
// of Content-Type names the message; application/x-protobuf without one, or
// no Content-Type at all, is remote write 1.0. Anything else, and any
// encoding but snappy, is refused with 415 so that the sender knows this
// receiver cannot take it (a 2.0 sender then retries in 1.0).
func negotiate(h http.Header) (validator.Version, error) {
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "snappy") {
		return 0, validator.NewError(validator.ErrIDUnsupportedEncoding, validator.CauseUnsupported, nil,
			"unsupported Content-Encoding %q, remote write uses snappy", enc)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return validator.RW1, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-protobuf" {
		return 0, validator.NewError(validator.ErrIDUnsupportedContentType, validator.CauseUnsupported, nil,
			"unsupported Content-Type %q, remote write uses application/x-protobuf", ct)
	}
	p, ok := params["proto"]
	switch {
	case !ok || p == upstream.RW1Message:
		return validator.RW1, nil
	case p == upstream.RW2Message:
		return validator.RW2, nil
	}
	return 0, validator.NewError(validator.ErrIDUnsupportedContentType, validator.CauseUnsupported, nil,
		"unsupported remote-write message %q, this receiver takes %s and %s", p, upstream.RW1Message, upstream.RW2Message)
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
