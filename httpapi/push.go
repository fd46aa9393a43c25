package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// passedBackHeaders are the upstream answer's headers the sender gets.
var passedBackHeaders = []string{
	"Content-Type",
	"Retry-After",
	"X-Prometheus-Remote-Write-Samples-Written",
	"X-Prometheus-Remote-Write-Histograms-Written",
	"X-Prometheus-Remote-Write-Exemplars-Written",
}

type pushHandler struct {
	auth   validator.AuthConfig
	v      *validator.Validator
	up     upstream.Upstream
	logger log.Logger
	bodies sync.Pool
	sender func(*http.Request) string
}

// PushOption configures the remote-write receiver.
type PushOption func(*pushHandler)

// WithSenderAddress sets how the sender's address is found for reports;
// by default it is the peer's address.
func WithSenderAddress(f func(*http.Request) string) PushOption {
	return func(h *pushHandler) { h.sender = f }
}

// NewPushHandler returns the remote-write receiver: it inspects every push,
// applies the configured actions and forwards what it accepts upstream,
// handing the upstream's answer back to the sender.
func NewPushHandler(auth validator.AuthConfig, v *validator.Validator, up upstream.Upstream, logger log.Logger, opts ...PushOption) http.Handler {
	h := &pushHandler{
		auth:   auth,
		v:      v,
		up:     up,
		logger: logger,
		bodies: sync.Pool{New: func() any { return new(bytes.Buffer) }},
		sender: (&ReportConfig{}).SenderAddress,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

const maxPooledBody = 16 << 20

func (h *pushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The sender as far as it is known, for a refusal's warning: the
	// tenant it gave, until that is resolved.
	meta := validator.Meta{Tenant: r.Header.Get("X-Scope-OrgID"), UserAgent: r.UserAgent(), RemoteAddr: h.sender(r)}
	tenant, err := h.auth.Tenant(meta.Tenant)
	if err != nil {
		h.fail(w, err, meta)
		return
	}
	meta.Tenant = tenant
	version, err := negotiate(r.Header)
	if err != nil {
		h.fail(w, err, meta)
		return
	}
	buf := h.bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			h.bodies.Put(buf)
		}
	}()
	body, err := readBody(r, buf, h.v.MaxRequestBytes())
	if err != nil {
		h.fail(w, err, meta)
		return
	}

	meta.Time = time.Now()
	forwardReq := func(body []byte) *upstream.Request {
		return &upstream.Request{
			Tenant:   tenant,
			Header:   upstream.ForwardedHeaders(r.Header, version == validator.RW2),
			Body:     body,
			OverHTTP: true,
		}
	}
	// When the tenant's actions only report, the body goes upstream as it
	// came: it is sent while inspection goes on, which then adds nothing
	// to the push's latency but decoding.
	var early *upstream.Pending
	defer func() {
		// body goes back to its pool on return: never while the early
		// push may still read it, whatever way this returns. (After the
		// push started CheckForwarding returns no error.)
		if early != nil {
			_, _ = early.Wait()
		}
	}()
	checked, err := h.v.CheckForwarding(meta, version, body, func() {
		early = upstream.Start(r.Context(), h.up, forwardReq(body))
	})
	if err != nil {
		if version == validator.RW2 {
			setWritten(w.Header(), validator.Counts{})
		}
		h.fail(w, err, meta)
		return
	}
	defer checked.Release()

	var resp *upstream.Response
	switch {
	case early != nil:
		resp, err = early.Wait()
	case checked.AllDropped():
		// Everything was already forwarded in earlier requests: there is
		// nothing to send, and the sender must not retry.
		level.Debug(h.logger).Log("msg", "every sample of the push was dropped, not forwarding", "tenant", tenant, "dropped", checked.Patch.Dropped)
		h.v.Settle(checked, meta, http.StatusOK)
		if version == validator.RW2 {
			// Removed on purpose: counted as written (see below).
			setWritten(w.Header(), checked.Received())
		}
		w.WriteHeader(http.StatusOK)
		return
	default:
		resp, err = h.up.Push(r.Context(), forwardReq(checked.Body(body)))
	}
	if err != nil {
		level.Warn(h.logger).Log("msg", "upstream did not answer", "tenant", tenant, "err", err)
		h.fail(w, validator.NewError(validator.ErrIDUpstreamUnavailable, validator.CauseUnavailable, err, "upstream unavailable"), meta)
		return
	}
	if err := upstream.RedirectError(resp); err != nil {
		// Not settled: the sender retries the push, which is accounted
		// for once an upstream took it.
		level.Warn(h.logger).Log("msg", "upstream answered with a redirect", "tenant", tenant, "err", err)
		h.fail(w, err, meta)
		return
	}
	h.v.Settle(checked, meta, resp.StatusCode)
	for _, name := range passedBackHeaders {
		if v := resp.Header.Values(name); len(v) > 0 {
			w.Header()[name] = v
		}
	}
	if version == validator.RW2 {
		// Samples pushguard removed on purpose (duplicates an action
		// resolved) count as written: the sender must not retry or report
		// them as lost; the report and pushguard_dropped_samples_total
		// account for them.
		if c, ok := writtenByUpstream(resp, checked.Forwarded()); ok {
			setWritten(w.Header(), c.Add(checked.Received().Sub(checked.Forwarded())))
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(resp.Body)
}

func (h *pushHandler) fail(w http.ResponseWriter, err error, meta validator.Meta) {
	h.v.Refused(err, meta)
	writeError(w, err)
}

// readBody reads the request body into buf, refusing it as soon as it is
// known to be over maxBytes.
func readBody(r *http.Request, buf *bytes.Buffer, maxBytes int) ([]byte, error) {
	tooLarge := func(n int64) error {
		return validator.NewError(validator.ErrIDRequestTooLarge, validator.CauseTooLarge, nil,
			"body of %d bytes or more is over the limit of %d bytes", n, maxBytes)
	}
	if r.ContentLength > int64(maxBytes) {
		return nil, tooLarge(r.ContentLength)
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, int64(maxBytes)+1))
	if err != nil {
		return nil, validator.NewError(validator.ErrIDReadBody, validator.CauseBadData, err, "reading body")
	}
	if n > int64(maxBytes) {
		return nil, tooLarge(n)
	}
	return buf.Bytes(), nil
}
