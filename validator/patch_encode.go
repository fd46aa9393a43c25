package validator

import "github.com/klauspost/compress/s2"

// Encode returns the patched request as snappy-compressed protobuf. The
// returned slice is owned by p and valid until its next use. Plan must have
// been called for r first.
func (p *Patch) Encode(r *Request) []byte { return p.EncodeFrom(r, nil) }

// EncodeFrom is Encode for a request that arrived as the snappy block
// compressed: what the patched request copies of the original keeps the
// sender's compression (spliceSnappy), which costs a fraction of
// compressing it again. Without it, or when it does not match r, the
// patched request is compressed as a whole.
func (p *Patch) EncodeFrom(r *Request, compressed []byte) []byte {
	if len(p.touched) != len(r.Series) {
		panic("validator: Patch.Encode called without Plan for this request")
	}
	p.build(r)
	if compressed != nil && len(r.Buf) > 0 {
		out := p.patchedBytes(r)
		// Copies whose source was cut out become literals: with many
		// patched series the splice compresses worse than the sender did,
		// and then the request is compressed anew.
		bound := splicedSizeBound(len(compressed), len(r.Buf), out.size)
		// Not even tried when the cuts alone would use up the slack.
		if slack := bound - bound*10/11; len(p.copied)*splicedBytesPerCut <= slack {
			spliced, ok := spliceSnappy(p.compressed, compressed, &out, bound)
			p.compressed = spliced
			if ok && len(spliced) <= bound {
				return spliced
			}
		}
	}
	// s2's snappy-compatible fast mode: the same block format as
	// snappy.Encode, which uses the slower "better" compression level.
	p.compressed = s2.EncodeSnappy(p.compressed[:cap(p.compressed)], p.Protobuf())
	return p.compressed
}

// build encodes the request p's plan describes in r's own protocol into
// fresh and copied; Protobuf writes it out.
func (p *Patch) build(r *Request) {
	p.copied, p.skipped = p.copied[:0], 0
	p.fresh = p.encode(r, p.fresh[:0])
	p.pending = r
}

// patchedBytes is the patched request fresh and copied describe, r's
// bytes being the copies' source.
func (p *Patch) patchedBytes(r *Request) patchedBytes {
	return patchedBytes{orig: r.Buf, fresh: p.fresh, copied: p.copied, size: p.skipped + len(p.fresh)}
}

// splicedBytesPerCut is about what each cut between copied ranges adds to
// a spliced block in literals (copies whose source was cut out, and what
// is patched): 130 to 450 bytes with kube-state-metrics-like series,
// measured over every action from 0.5% to 5% duplicates.
const splicedBytesPerCut = 300

// splicedSizeBound is the largest spliced block kept: 10% over the
// sender's compression ratio applied to the patched request.
func splicedSizeBound(compressed, orig, patched int) int {
	return int(float64(compressed) * float64(patched) / float64(orig) * 1.1)
}

// Protobuf returns the uncompressed protobuf of the last Encode.
func (p *Patch) Protobuf() []byte {
	if p.pending != nil {
		pb := p.patchedBytes(p.pending)
		p.proto = pb.appendRange(p.proto[:0], 0, pb.size)
		p.pending = nil
	}
	return p.proto
}
