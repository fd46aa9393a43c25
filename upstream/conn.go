package upstream

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
)

// copyBuffers are the buffers push bodies are written to upstream
// connections through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pooledCopyConn is an upstream connection whose ReadFrom copies through a
// pooled buffer. net/http writes a body of known length through an
// io.LimitReader, which hides the body's WriteTo, and net.TCPConn's ReadFrom
// then falls back to io.Copy with a new 32 KiB buffer: one for every push,
// most of what forwarding allocated.
type pooledCopyConn struct{ net.Conn }

func (c pooledCopyConn) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	// The anonymous struct keeps io.CopyBuffer from calling back into
	// ReadFrom.
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bp)
}

// pooledCopyDialer wraps dial's connections in pooledCopyConn.
func pooledCopyDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return pooledCopyConn{c}, nil
	}
}

// pooledCopyTLSDialer returns a dialer for the transport's DialTLSContext:
// it dials with dial and does the TLS handshake itself, with cfg (nil for
// the defaults), so that the connection net/http writes bodies to is a
// pooledCopyConn above TLS. Left to the transport, TLS sits above the
// pooled copy and every push over https allocates a 32 KiB copy buffer
// again. (Through an http proxy the transport does TLS itself, after
// CONNECT, as before.)
func pooledCopyTLSDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), cfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &tls.Config{}
		if cfg != nil {
			c = cfg.Clone()
		}
		if c.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			c.ServerName = host
		}
		tc := tls.Client(raw, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return pooledCopyConn{tc}, nil
	}
}
