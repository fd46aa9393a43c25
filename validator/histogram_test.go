package validator

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/pushguard/pushguard/proto/compat/cortexpb"
)

func TestEncodingHashIgnoresFieldOrder(t *testing.T) {
	gogo := prompb.FromIntHistogram(1000, testHistogram(5))
	gogoBytes, err := gogo.Marshal()
	require.NoError(t, err)
	require.True(t, fieldsInOrder(gogoBytes), "Prometheus' encoding is taken as it is")

	// The same histogram as a protobuf-go client encodes it: the counts,
	// oneof fields, come last.
	pgo := &cortexpb.Histogram{
		Count:          &cortexpb.Histogram_CountInt{CountInt: gogo.GetCountInt()},
		Sum:            gogo.Sum,
		ZeroThreshold:  gogo.ZeroThreshold,
		ZeroCount:      &cortexpb.Histogram_ZeroCountInt{ZeroCountInt: gogo.GetZeroCountInt()},
		PositiveSpans:  []*cortexpb.BucketSpan{{Offset: 0, Length: 1}},
		PositiveDeltas: gogo.PositiveDeltas,
		Timestamp:      gogo.Timestamp,
	}
	pgoBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(pgo)
	require.NoError(t, err)
	require.NotEqual(t, gogoBytes, pgoBytes)
	require.False(t, fieldsInOrder(pgoBytes))
	require.Equal(t, encodingHash(gogoBytes), encodingHash(pgoBytes))

	other := prompb.FromIntHistogram(1000, testHistogram(6))
	otherBytes, err := other.Marshal()
	require.NoError(t, err)
	require.NotEqual(t, encodingHash(gogoBytes), encodingHash(otherBytes))

	// Not a histogram at all: hashed as it is, no panic.
	require.NotZero(t, encodingHash([]byte{0xff, 0xff}))
}
