package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	dskittls "github.com/grafana/dskit/crypto/tls"

	"github.com/pushguard/pushguard/validator"
)

// Config selects and configures the upstream.
type Config struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
	// RemoteWriteVersion is what -upstream.url receives remote write 2.0
	// pushes as: auto, 1 or 2.
	RemoteWriteVersion string `yaml:"remote_write_version"`
	// MaxResponseBytes caps how much of an upstream answer is read back.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// TLS configures the client side of an https -upstream.url: the CA
	// that signed the upstream's certificate, and the client certificate
	// of mutual TLS.
	TLS dskittls.ClientConfig `yaml:",inline"`

	GRPC GRPCConfig `yaml:",inline"`
}

// RegisterFlags registers the upstream flags.
func (cfg *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&cfg.URL, "upstream.url", "", "Remote-write URL accepted pushes are forwarded to, such as Mimir's http://distributor:8080/api/v1/push. It must be the final address: redirects are not followed. Empty means the embedded TSDB receives them.")
	f.DurationVar(&cfg.Timeout, "upstream.timeout", 15*time.Second, "Time allowed for the upstream to answer a push. A push that times out is answered 503 so the sender retries. Must be shorter than -server.http-write-timeout (2m by default), the time the HTTP server gives a whole push.")
	f.StringVar(&cfg.RemoteWriteVersion, "upstream.remote-write-version", VersionAuto, "Remote-write version -upstream.url receives remote write 2.0 pushes in: 2 forwards them as they are, 1 converts them to remote write 1.0, auto sends 2.0 and, once the upstream refuses it (415, or a 2xx without the 2.0 written-count headers), converts for that upstream from then on. Remote write 1.0 pushes are always forwarded as 1.0.")
	f.IntVar(&cfg.MaxResponseBytes, "upstream.max-response-bytes", 1<<20, "Maximum size of an upstream answer passed back to the sender, in bytes; longer answers are truncated.")
	cfg.TLS.RegisterFlagsWithPrefix("upstream", f)
	cfg.GRPC.RegisterFlags(f)
}

// tlsSet reports whether any -upstream.tls-* flag was given.
func (cfg *Config) tlsSet() bool { return cfg.TLS != (dskittls.ClientConfig{}) }

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	scheme := ""
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("invalid -upstream.url %q: want an http(s) URL", cfg.URL)
		}
		scheme = u.Scheme
	}
	if cfg.tlsSet() && scheme != "https" {
		return fmt.Errorf("-upstream.tls-* flags apply to an https -upstream.url, and it is %q (the gRPC upstream has its own, -upstream.grpc-client.tls-*)", cfg.URL)
	}
	switch cfg.RemoteWriteVersion {
	case VersionAuto, Version1, Version2:
	default:
		return fmt.Errorf("invalid -upstream.remote-write-version %q: want auto, 1 or 2", cfg.RemoteWriteVersion)
	}
	if cfg.Timeout <= 0 {
		return fmt.Errorf("-upstream.timeout must be positive")
	}
	if cfg.MaxResponseBytes <= 0 {
		// 0 would pass every upstream refusal back without its reason.
		return fmt.Errorf("-upstream.max-response-bytes must be positive, got %d", cfg.MaxResponseBytes)
	}
	return cfg.GRPC.Validate()
}

// forwardedHeaders are the sender's headers an HTTP upstream gets, in
// canonical form, so that looking them up per push canonicalizes nothing.
var forwardedHeaders = canonicalHeaderNames(
	"Authorization",
	"User-Agent",
	"Content-Type",
	"Content-Encoding",
	"X-Prometheus-Remote-Write-Version",
	// Mimir takes a request's skip-validation fields only with these, and
	// only when its flags allow them.
	"X-Mimir-SkipLabelNameValidation",
	"X-Mimir-SkipLabelCountValidation",
)

func canonicalHeaderNames(names ...string) []string {
	for i, n := range names {
		names[i] = http.CanonicalHeaderKey(n)
	}
	return names
}

// ForwardedHeaders returns the subset of h that is passed on upstream,
// with the content headers of the negotiated version (remote write 2.0 when
// rw2 is set, 1.0 otherwise).
func ForwardedHeaders(h http.Header, rw2 bool) http.Header {
	out := make(http.Header, len(forwardedHeaders))
	for _, name := range forwardedHeaders {
		if v := h.Values(name); len(v) > 0 {
			out[name] = v
		}
	}
	setVersionHeaders(out, rw2)
	return out
}

// HTTP forwards pushes to a remote-write endpoint such as Mimir's
// distributor.
type HTTP struct {
	cfg    Config
	client *http.Client
	logger log.Logger
	// rw1Only is set once the upstream refused remote write 2.0 under
	// -upstream.remote-write-version=auto.
	rw1Only atomic.Bool
}

// NewHTTP returns an HTTP upstream. It fails when the TLS configuration
// names files it cannot read or does not hold.
func NewHTTP(cfg Config, logger log.Logger) (*HTTP, error) {
	var tlsConfig *tls.Config
	if cfg.tlsSet() {
		var err error
		if tlsConfig, err = cfg.TLS.GetTLSConfig(); err != nil {
			return nil, fmt.Errorf("-upstream.tls-*: %w", err)
		}
		// A CA file without a PEM certificate reads as a pool with
		// nothing in it, which no upstream certificate would pass.
		if cfg.TLS.CAPath != "" && tlsConfig.RootCAs.Equal(x509.NewCertPool()) {
			return nil, fmt.Errorf("-upstream.tls-ca-path: %s holds no PEM certificate", cfg.TLS.CAPath)
		}
	}
	dial := (&net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
	}).DialContext
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           pooledCopyDialer(dial),
		DialTLSContext:        pooledCopyTLSDialer(dial, tlsConfig),
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     false,
		TLSClientConfig:       tlsConfig,
	}
	if cfg.RemoteWriteVersion == "" {
		cfg.RemoteWriteVersion = VersionAuto
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	client := &http.Client{
		Transport: transport,
		// A push is never re-sent elsewhere: net/http would turn a 301,
		// 302 or 303 into a GET without a body, and hand back the
		// redirect target's answer, a 2xx for a push nobody stored. The
		// redirect itself goes back to the caller (see RedirectError).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &HTTP{cfg: cfg, client: client, logger: logger}, nil
}

// Push implements Upstream. A remote write 2.0 request goes as 2.0 or is
// converted to 1.0, as -upstream.remote-write-version says.
func (u *HTTP) Push(ctx context.Context, req *Request) (*Response, error) {
	if !IsRW2(req.Header) {
		return u.send(ctx, req)
	}
	setVersionHeaders(req.Header, true)
	if u.cfg.RemoteWriteVersion == Version1 || (u.cfg.RemoteWriteVersion == VersionAuto && u.rw1Only.Load()) {
		return u.sendRW1(ctx, req)
	}
	resp, err := u.send(ctx, req)
	if err != nil || u.cfg.RemoteWriteVersion != VersionAuto || !refusesRW2(resp) {
		return resp, err
	}
	if !u.rw1Only.Swap(true) {
		level.Info(u.logger).Log("msg", "upstream does not take remote write 2.0: converting to 1.0 from now on", "url", u.cfg.URL, "status", resp.StatusCode)
	}
	return u.sendRW1(ctx, req)
}

// refusesRW2 reports whether an answer to a remote write 2.0 request says
// the upstream does not speak it: 415, or a 2xx without any written-count
// header, which a 1.0 receiver that ignored the Content-Type answers after
// finding no 1.0 series in the body (so nothing was written).
func refusesRW2(resp *Response) bool {
	if resp.StatusCode == http.StatusUnsupportedMediaType {
		return true
	}
	if resp.StatusCode/100 != 2 {
		return false
	}
	for _, h := range []string{"X-Prometheus-Remote-Write-Samples-Written", "X-Prometheus-Remote-Write-Histograms-Written", "X-Prometheus-Remote-Write-Exemplars-Written"} {
		if resp.Header.Get(h) != "" {
			return false
		}
	}
	return true
}

func (u *HTTP) sendRW1(ctx context.Context, req *Request) (*Response, error) {
	conv, err := req.ToRW1()
	if err != nil {
		return textResponse(http.StatusBadRequest, err.Error()+" (err-pushguard-bad-protobuf)"), nil
	}
	return u.send(ctx, conv)
}

func (u *HTTP) send(ctx context.Context, req *Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.URL, http.NoBody)
	if err != nil {
		return nil, err
	}
	if b := req.SnappyBody(); len(b) > 0 {
		// The body is the caller's, often a pooled buffer it reuses once
		// the push returns, while net/http may go on writing it after the
		// answer came (an upstream may answer before reading the whole
		// body). Once the push returns, what the transport still reads
		// of it is an error instead.
		gate := &bodyGate{b: b}
		defer gate.close()
		hreq.GetBody = func() (io.ReadCloser, error) { return &gatedBody{gate: gate}, nil }
		hreq.Body, _ = hreq.GetBody()
		hreq.ContentLength = int64(len(b))
	}
	for name, v := range req.Header {
		hreq.Header[name] = v
	}
	hreq.Header.Set("X-Scope-OrgID", req.Tenant)
	resp, err := u.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("forwarding to %s: %w", u.cfg.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(u.cfg.MaxResponseBytes)))
	if err != nil {
		return nil, fmt.Errorf("reading answer of %s: %w", u.cfg.URL, err)
	}
	// Drain what is left so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// bodyGate hands a push's body to the readers of one request until it is
// closed, after which they read errClosedBody.
type bodyGate struct {
	mu sync.Mutex
	b  []byte // nil once closed
}

func (g *bodyGate) close() {
	g.mu.Lock()
	g.b = nil
	g.mu.Unlock()
}

var errClosedBody = errors.New("push body read after the push returned")

// gatedBody is one reading of a bodyGate's body: the request's first, or
// one GetBody gives for a retry or a redirect. It has no WriteTo, so that
// a copy goes through Read.
type gatedBody struct {
	gate *bodyGate
	off  int
}

// Read implements io.Reader.
func (r *gatedBody) Read(p []byte) (int, error) {
	r.gate.mu.Lock()
	defer r.gate.mu.Unlock()
	if r.gate.b == nil {
		return 0, errClosedBody
	}
	if r.off >= len(r.gate.b) {
		return 0, io.EOF
	}
	n := copy(p, r.gate.b[r.off:])
	r.off += n
	return n, nil
}

// Close implements io.Closer.
func (r *gatedBody) Close() error { return nil }

// RedirectError returns the error a push gets when the upstream answered
// it with a redirect (3xx), nil for any other answer. A redirect is no
// acceptance, and pushguard does not follow it; the error is retryable, so
// that the sender keeps the samples until -upstream.url is corrected.
func RedirectError(resp *Response) error {
	if resp.StatusCode/100 != 3 {
		return nil
	}
	return validator.NewError(validator.ErrIDUpstreamRedirect, validator.CauseBadGateway, nil,
		"upstream answered %d %s, Location %q: -upstream.url must be the final address, since pushguard does not follow redirects",
		resp.StatusCode, http.StatusText(resp.StatusCode), resp.Header.Get("Location"))
}

// Name returns a short name of the upstream for metrics and logs.
func (u *HTTP) Name() string { return "http" }
