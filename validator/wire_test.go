package validator

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// checkWireFastPaths asserts the fast paths agree with protowire and the
// general sample decoder on b.
func checkWireFastPaths(t *testing.T, b []byte) {
	n1, t1, l1 := consumeTag(b)
	n2, t2, l2 := protowire.ConsumeTag(b)
	if l2 < 0 {
		require.Negative(t, l1, "consumeTag(%x)", b)
	} else {
		require.Equal(t, []any{n2, t2, l2}, []any{n1, t1, l1}, "consumeTag(%x)", b)
	}
	v1, m1 := consumeBytes(b)
	v2, m2 := protowire.ConsumeBytes(b)
	if m2 < 0 {
		require.Negative(t, m1, "consumeBytes(%x)", b)
	} else {
		require.Equal(t, m2, m1, "consumeBytes(%x)", b)
		require.Equal(t, v2, v1, "consumeBytes(%x)", b)
	}
	if l, ok := decodeCanonicalLabel(b, 0, len(b)); ok {
		// Canonical: exactly the name then the value, as gogo writes them.
		want, err := decodeLabel(b, 0, len(b))
		require.NoError(t, err, "%x", b)
		require.Equal(t, want, l, "%x", b)
		name, value := b[l.Name.Start:l.Name.End], b[l.Value.Start:l.Value.End]
		require.NotEmpty(t, name, "%x", b)
		require.NotEmpty(t, value, "%x", b)
		enc := protowire.AppendBytes(protowire.AppendTag(nil, labelName, protowire.BytesType), name)
		enc = protowire.AppendBytes(protowire.AppendTag(enc, labelValue, protowire.BytesType), value)
		require.Equal(t, enc, b, "%x taken as canonical", b)
	}
	if s, ok := decodeCanonicalSample(b); ok {
		want, err := decodeSample(b)
		require.NoError(t, err, "%x", b)
		require.Equal(t, want.TimestampMs, s.TimestampMs)
		require.Equal(t, math.Float64bits(want.Value), math.Float64bits(s.Value))
	}
}

func TestWireFastPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, smp := range []prompb.Sample{{}, {Value: 1.5}, {Timestamp: 1795773600000}, {Value: math.NaN(), Timestamp: -5}, {Value: -2, Timestamp: 1}} {
		b, err := smp.Marshal()
		require.NoError(t, err)
		s, ok := decodeCanonicalSample(b)
		require.True(t, ok, "gogo's encoding of %v is canonical", smp)
		require.Equal(t, smp.Timestamp, s.TimestampMs)
		require.Equal(t, math.Float64bits(smp.Value), math.Float64bits(s.Value))
		checkWireFastPaths(t, b)
	}
	long := string(make([]byte, 128))
	for _, l := range []prompb.Label{{Name: "a", Value: "b"}, {Name: "__name__", Value: "kube_pod_info"}, {Name: "a", Value: long[:122]}} {
		b, err := l.Marshal()
		require.NoError(t, err)
		_, ok := decodeCanonicalLabel(b, 0, len(b))
		require.True(t, ok, "gogo's encoding of %v is canonical", l)
		checkWireFastPaths(t, b)
	}
	for _, b := range [][]byte{
		{0x0a, 0x00, 0x12, 0x02, 'b', 'c'},             // empty name
		{0x0a, 0x02, 'a', 'b', 0x12, 0x00},             // empty value
		{0x0a, 0x01, 'a', 0x1a, 0x01, 'b'},             // not the value field
		{0x12, 0x01, 'b', 0x0a, 0x01, 'a'},             // value first
		{0x0a, 0x01, 'a', 0x12, 0x01, 'b', 0x18, 0x01}, // a field after
		{0x0a, 0x81, 0x00, 'a', 0x12, 0x01, 'b'},       // a padded length
	} {
		_, ok := decodeCanonicalLabel(b, 0, len(b))
		require.False(t, ok, "%x taken as canonical", b)
		checkWireFastPaths(t, b)
	}
	for range 20000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		checkWireFastPaths(t, b)
	}
}

func FuzzWireFastPaths(f *testing.F) {
	f.Add([]byte{0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0x01})
	f.Add([]byte{0x0a, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x0a, 0x01, 'a', 0x12, 0x01, 'b'})
	f.Add([]byte{0x00})
	f.Fuzz(checkWireFastPaths)
}
