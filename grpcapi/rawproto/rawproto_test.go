package rawproto

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type sink struct{ buf []byte }

func (s *sink) Buffer(n int) []byte {
	s.buf = make([]byte, n)
	return s.buf
}

func TestCodec(t *testing.T) {
	c := NewCodec()
	require.Equal(t, "proto", c.Name())

	// Raw bytes pass through both ways untouched, even when they are not
	// a message the standard codec would accept.
	raw := []byte{0x0a, 0x03, 'a', 'b', 'c', 0xff}
	data, err := c.Marshal(Bytes(raw))
	require.NoError(t, err)
	require.Equal(t, raw, data.Materialize())
	var s sink
	require.NoError(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw[:3]), mem.SliceBuffer(raw[3:])}, &s))
	require.Equal(t, raw, s.buf)

	// Everything else is ordinary protobuf.
	data, err = c.Marshal(wrapperspb.String("hello"))
	require.NoError(t, err)
	var got wrapperspb.StringValue
	require.NoError(t, c.Unmarshal(data, &got))
	require.True(t, proto.Equal(wrapperspb.String("hello"), &got))
}
