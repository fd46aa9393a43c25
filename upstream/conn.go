package upstream

import (
	"context"
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
