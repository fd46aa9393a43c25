package validator

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// consumeTag is protowire.ConsumeTag with a fast path for the one-byte
// tags every remote-write field uses; anything else, errors included, goes
// through protowire.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0]>>3 != 0 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

// consumeBytes is protowire.ConsumeBytes with a fast path for lengths
// below 128, the usual case for labels and samples.
func consumeBytes(b []byte) ([]byte, int) {
	if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		n := int(b[0])
		return b[1 : 1+n], 1 + n
	}
	return protowire.ConsumeBytes(b)
}

// decodeCanonicalSample decodes a sample encoded as gogo and Prometheus
// encode it: the value (left out when 0), then the timestamp, nothing
// else. It reports false for any other encoding, which decodeSample takes.
func decodeCanonicalSample(b []byte) (Sample, bool) {
	var s Sample
	if len(b) >= 9 && b[0] == 0x09 {
		s.Value = math.Float64frombits(binary.LittleEndian.Uint64(b[1:9]))
		b = b[9:]
	}
	if len(b) == 0 {
		return s, true
	}
	if b[0] != 0x10 {
		return s, false
	}
	v, n := protowire.ConsumeVarint(b[1:])
	if n < 0 || 1+n != len(b) {
		return s, false
	}
	s.TimestampMs = int64(v)
	return s, true
}
