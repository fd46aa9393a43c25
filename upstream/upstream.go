// Package upstream holds the places accepted pushes go to: Mimir over HTTP,
// Mimir over gRPC and the embedded Prometheus TSDB.
package upstream

import (
	"context"
	"net/http"
)

// Request is one accepted push on its way upstream.
type Request struct {
	// Tenant is the resolved tenant ID, passed on as X-Scope-OrgID.
	Tenant string
	// Header holds the sender's headers that are passed on (Authorization,
	// User-Agent, Content-Type, Content-Encoding, remote-write version).
	Header http.Header
	// Body is the snappy-compressed remote-write body: the sender's original
	// bytes when nothing was patched.
	Body []byte
}

// Response is the upstream's answer, handed back to the sender unchanged.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Upstream receives accepted pushes. An error means there was no answer at
// all (refused connection, timeout): callers must treat it as retryable and
// never acknowledge the push.
type Upstream interface {
	Push(ctx context.Context, req *Request) (*Response, error)
}
