// Package rawproto is a gRPC codec that lets remote-write messages pass as
// their wire bytes. pushguard decodes a write request with its own
// zero-copy parser and forwards it as bytes, so unmarshalling it into
// generated structs on the way in, and marshalling it again on the way
// out, would only cost time and allocations. Every other message goes
// through the standard protobuf codec.
package rawproto

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Receiver is a message that takes its wire bytes as they are.
type Receiver interface {
	// Buffer returns a buffer of exactly n bytes for the message's wire
	// bytes.
	Buffer(n int) []byte
}

// Bytes is a message already encoded: it is sent as it is.
type Bytes []byte

// Codec is the gRPC codec: raw for Receiver and Bytes, standard protobuf
// for everything else. Its name is "proto", so peers see an ordinary
// protobuf call.
type Codec struct {
	proto encoding.CodecV2
}

// NewCodec returns the codec.
func NewCodec() *Codec {
	return &Codec{proto: encoding.GetCodecV2(proto.Name)}
}

// Name implements encoding.CodecV2.
func (c *Codec) Name() string { return proto.Name }

// Marshal implements encoding.CodecV2.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case Bytes:
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	case *Bytes:
		return mem.BufferSlice{mem.SliceBuffer(*m)}, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case Receiver:
		n := data.Len()
		buf := m.Buffer(n)
		if len(buf) != n {
			return fmt.Errorf("rawproto: receiver gave a buffer of %d bytes for %d", len(buf), n)
		}
		data.CopyTo(buf)
		return nil
	case *Bytes:
		*m = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}
