package upstream

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPooledCopyConnReadFrom sends bodies through pooledCopyConn over a
// loopback TCP connection: a bytes.Reader under io.LimitReader, as net/http
// hands over a push body (with a limit shorter than the reader too), and
// another reader.
func TestPooledCopyConnReadFrom(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	body := make([]byte, 300<<10)
	_, _ = rand.Read(body)
	for name, reader := range map[string]func() io.Reader{
		"limited bytes.Reader": func() io.Reader { return io.LimitReader(bytes.NewReader(body), int64(len(body))) },
		"limit shorter than the body": func() io.Reader {
			return io.LimitReader(bytes.NewReader(append(bytes.Clone(body), "extra"...)), int64(len(body)))
		},
		"other reader": func() io.Reader { return io.MultiReader(bytes.NewReader(body[:1000]), bytes.NewReader(body[1000:])) },
	} {
		t.Run(name, func(t *testing.T) {
			received := make(chan []byte, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					received <- nil
					return
				}
				defer c.Close()
				b, _ := io.ReadAll(c)
				received <- b
			}()
			raw, err := net.Dial("tcp", l.Addr().String())
			require.NoError(t, err)
			c := pooledCopyConn{raw}
			r := reader()
			n, err := c.ReadFrom(r)
			require.NoError(t, err)
			require.Equal(t, int64(len(body)), n)
			if lr, ok := r.(*io.LimitedReader); ok {
				require.Zero(t, lr.N, "the limit is used up")
			}
			require.NoError(t, raw.Close())
			require.Equal(t, body, <-received)
		})
	}
}
