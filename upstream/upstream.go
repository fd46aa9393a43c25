// Package upstream holds the places accepted pushes go to: Mimir over HTTP,
// Mimir over gRPC and the embedded Prometheus TSDB.
package upstream

import (
	"context"
	"fmt"
	"net/http"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/grpc/status"
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
	// Protobuf is the same request uncompressed, when the receiving side
	// already has it (a gRPC push arrives uncompressed). Either Body or
	// Protobuf may be empty; SnappyBody and DecodedBody give each upstream
	// the form it needs, converting at most once.
	Protobuf []byte
	// OverHTTP says the push came over HTTP. Mimir's HTTP push ignores a
	// request's skip_label_validation and skip_label_count_validation
	// fields unless a header and a flag allow them, while its gRPC Push
	// takes them from anyone: the gRPC upstream clears them for such a
	// push.
	OverHTTP bool
}

// SnappyBody returns the snappy-compressed body, compressing Protobuf
// when Body is empty.
func (r *Request) SnappyBody() []byte {
	if len(r.Body) == 0 && len(r.Protobuf) > 0 {
		r.Body = s2.EncodeSnappy(nil, r.Protobuf)
	}
	return r.Body
}

// DecodedBody returns the uncompressed protobuf, decompressing Body when
// Protobuf is empty.
func (r *Request) DecodedBody() ([]byte, error) {
	if len(r.Protobuf) == 0 && len(r.Body) > 0 {
		b, err := snappy.Decode(nil, r.Body)
		if err != nil {
			return nil, fmt.Errorf("decompressing body: %w", err)
		}
		r.Protobuf = b
	}
	return r.Protobuf, nil
}

// Response is the upstream's answer, handed back to the sender unchanged.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// GRPCStatus is the gRPC upstream's own answer when it was not OK:
	// what a gRPC sender gets back as it is, details included. StatusCode
	// and Body are its HTTP equivalent.
	GRPCStatus *status.Status
}

// Upstream receives accepted pushes. An error means there was no answer at
// all (refused connection, timeout): callers must treat it as retryable and
// never acknowledge the push.
type Upstream interface {
	Push(ctx context.Context, req *Request) (*Response, error)
}

// Pending is a push sent in the background.
type Pending struct {
	done chan struct{}
	resp *Response
	err  error
}

// Start sends req through up in a goroutine of its own; req and what it
// refers to must stay unchanged until Wait returned.
func Start(ctx context.Context, up Upstream, req *Request) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// Out of the handler's goroutine, a panic would end the process.
		defer func() {
			if r := recover(); r != nil {
				p.resp, p.err = nil, fmt.Errorf("push panicked: %v", r)
			}
		}()
		p.resp, p.err = up.Push(ctx, req)
	}()
	return p
}

// Wait returns the upstream's answer, once it came.
func (p *Pending) Wait() (*Response, error) {
	<-p.done
	return p.resp, p.err
}
