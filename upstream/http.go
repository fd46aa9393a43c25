package upstream

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Config selects and configures the upstream.
type Config struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
	// MaxResponseBytes caps how much of an upstream answer is read back.
	MaxResponseBytes int `yaml:"max_response_bytes"`

	GRPC GRPCConfig `yaml:",inline"`
}

// RegisterFlags registers the upstream flags.
func (cfg *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&cfg.URL, "upstream.url", "", "Remote-write URL accepted pushes are forwarded to, such as Mimir's http://distributor:8080/api/v1/push. Empty means the embedded TSDB receives them.")
	f.DurationVar(&cfg.Timeout, "upstream.timeout", 15*time.Second, "Time allowed for the upstream to answer a push. A push that times out is answered 503 so the sender retries.")
	f.IntVar(&cfg.MaxResponseBytes, "upstream.max-response-bytes", 1<<20, "Maximum size of an upstream answer passed back to the sender, in bytes; longer answers are truncated.")
	cfg.GRPC.RegisterFlags(f)
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("invalid -upstream.url %q: want an http(s) URL", cfg.URL)
		}
	}
	if cfg.Timeout <= 0 {
		return fmt.Errorf("-upstream.timeout must be positive")
	}
	return cfg.GRPC.Validate()
}

// forwardedHeaders are the sender's headers an HTTP upstream gets.
var forwardedHeaders = []string{
	"Authorization",
	"User-Agent",
	"Content-Type",
	"Content-Encoding",
	"X-Prometheus-Remote-Write-Version",
}

// ForwardedHeaders returns the subset of h that is passed on upstream.
func ForwardedHeaders(h http.Header) http.Header {
	out := make(http.Header, len(forwardedHeaders))
	for _, name := range forwardedHeaders {
		if v := h.Values(name); len(v) > 0 {
			out[name] = v
		}
	}
	return out
}

// HTTP forwards pushes to a remote-write endpoint such as Mimir's
// distributor.
type HTTP struct {
	cfg    Config
	client *http.Client
}

// NewHTTP returns an HTTP upstream.
func NewHTTP(cfg Config) *HTTP {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     false,
	}
	return &HTTP{cfg: cfg, client: &http.Client{Transport: transport}}
}

// Push implements Upstream.
func (u *HTTP) Push(ctx context.Context, req *Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.URL, bytes.NewReader(req.SnappyBody()))
	if err != nil {
		return nil, err
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

// Name returns a short name of the upstream for metrics and logs.
func (u *HTTP) Name() string { return "http" }
