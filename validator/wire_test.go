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
	f.Add([]byte{0x00})
	f.Fuzz(checkWireFastPaths)
}
