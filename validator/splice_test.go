package validator

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	golangsnappy "github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestEncodeFromSplices checks every repairing action on realistic
// requests: the body decompresses to exactly the patched protobuf; with few
// duplicates it is the splice, and with many it is no more than 10% over
// the sender's compression ratio, or compressed anew.
func TestEncodeFromSplices(t *testing.T) {
	for _, tc := range []struct {
		dups     int
		compress string
	}{
		{1, "klauspost"}, {benchSeries / 1000, "klauspost"}, {benchSeries / 10, "klauspost"},
		{benchSeries / 1000, "golang"}, {benchSeries / 10, "golang"},
	} {
		dups := tc.dups
		body := benchRequest(t, benchSeries, dups)
		r := decodeBody(t, body)
		if tc.compress == "golang" {
			// The reference encoder: independent 64 KiB blocks.
			body = golangsnappy.Encode(nil, r.Buf)
		}
		var res Result
		NewInspector(NewIdentity(nil)).Inspect(r, &res)
		for _, action := range Actions {
			if action == ActionReport || action == ActionReject {
				continue
			}
			var p Patch
			require.True(t, p.Plan(r, &res, StaticPolicy(action)), action)
			got := bytes.Clone(p.EncodeFrom(r, body))
			proto := p.Protobuf()
			// The request written out in full, as without a splice.
			var whole Patch
			require.True(t, whole.Plan(r, &res, StaticPolicy(action)))
			whole.Encode(r)
			require.Equal(t, whole.Protobuf(), proto, "%s, %d duplicates: the protobuf of a splice", action, dups)
			decoded, err := snappy.Decode(nil, got)
			require.NoError(t, err, "%s, %d duplicates", action, dups)
			require.Equal(t, proto, decoded, "%s, %d duplicates", action, dups)

			spliced, ok := spliceSnappy(nil, body, patchedOf(r.Buf, proto, p.copied), math.MaxInt)
			require.True(t, ok)
			decoded, err = snappy.Decode(nil, spliced)
			require.NoError(t, err)
			require.Equal(t, proto, decoded, "%s, %d duplicates: the splice itself", action, dups)
			anew := s2.EncodeSnappy(nil, proto)
			bound := splicedSizeBound(len(body), len(r.Buf), len(proto))
			t.Logf("%s, %d duplicates, %s/snappy: original %d bytes, spliced %d (kept up to %d), compressed anew %d",
				action, dups, tc.compress, len(body), len(spliced), bound, len(anew))
			if dups <= benchSeries/1000 {
				require.Equal(t, spliced, got, "%s, %d duplicates: not spliced", action, dups)
			} else if len(spliced) > bound {
				require.Equal(t, anew, got, "%s, %d duplicates: a splice over the bound is kept", action, dups)
			}
		}
	}
}

// TestEncodeFromSplicesRepeatedBlock checks a push whose repeats come as
// one block after the series they repeat (a target scraped twice under
// one set of labels): dropping them leaves a single copied range, and the
// push is spliced however many they are, not compressed anew.
func TestEncodeFromSplicesRepeatedBlock(t *testing.T) {
	orig := unmarshal(t, benchRequest(t, benchSeries, 0))
	for _, dups := range []int{benchSeries / 20, benchSeries / 10} {
		in := slices.Clone(orig.Timeseries)
		for _, ts := range orig.Timeseries[:dups] {
			in = append(in, withSamples(prompb.TimeSeries{Labels: ts.Labels}, benchScrapeMs, ts.Samples[0].Value+1))
		}
		body := marshal(t, in...)
		r := decodeBody(t, body)
		var res Result
		NewInspector(NewIdentity(nil)).Inspect(r, &res)
		var p Patch
		require.True(t, p.Plan(r, &res, StaticPolicy(ActionKeepFirst)))
		require.Equal(t, dups, p.Dropped)
		got := bytes.Clone(p.EncodeFrom(r, body))
		require.Len(t, p.copied, 1, "%d repeats: the series kept are one range", dups)
		spliced, ok := spliceSnappy(nil, body, patchedOf(r.Buf, p.Protobuf(), p.copied), math.MaxInt)
		require.True(t, ok)
		require.Equal(t, spliced, got, "%d repeats: not spliced", dups)
		decoded, err := snappy.Decode(nil, got)
		require.NoError(t, err)
		require.Equal(t, p.Protobuf(), decoded)
		require.Equal(t, marshalRaw(t, orig.Timeseries...), decoded, "%d repeats", dups)
	}
}

// patchedOf is out, a patched request written out in full that copies
// orig where copied says, as spliceSnappy reads it: the copies from orig,
// the rest from out.
func patchedOf(orig, out []byte, copied []copiedRange) *patchedBytes {
	var fresh []byte
	at := 0
	for _, c := range copied {
		fresh = append(fresh, out[at:max(at, c.to)]...)
		at = max(at, c.to+c.n)
	}
	fresh = append(fresh, out[at:]...)
	return &patchedBytes{orig: orig, fresh: fresh, copied: copied, size: len(out)}
}

// TestSpliceSnappyRefuses checks that a block that does not describe the
// original, ranges out of order or a block over the limit leave
// compression to the caller.
func TestSpliceSnappyRefuses(t *testing.T) {
	orig := bytes.Repeat([]byte("abcdefgh"), 100)
	src := snappy.Encode(nil, orig)
	whole := []copiedRange{{0, 0, len(orig)}}
	_, ok := spliceSnappy(nil, src, patchedOf(append(bytes.Clone(orig), 'x'), orig, whole), math.MaxInt)
	require.False(t, ok, "length mismatch")
	_, ok = spliceSnappy(nil, src[:len(src)-1], patchedOf(orig, orig, whole), math.MaxInt)
	require.False(t, ok, "truncated block")
	_, ok = spliceSnappy(nil, src, patchedOf(orig, orig, []copiedRange{{100, 0, 10}, {50, 10, 10}}), math.MaxInt)
	require.False(t, ok, "ranges out of order")
	_, ok = spliceSnappy(nil, src, patchedOf(orig, orig, []copiedRange{{0, 0, 400}, {410, 400, 390}}), len(src)/2)
	require.False(t, ok, "over the limit")
	out, ok := spliceSnappy(nil, src, patchedOf(orig, orig, whole), math.MaxInt)
	require.True(t, ok)
	require.Equal(t, src, out, "a whole copy is the original block")
}

// FuzzSpliceSnappy builds a patched version of arbitrary bytes from random
// copied ranges and new bytes, and checks that the spliced block
// decompresses to it, whichever compressor made the original block; the
// reference decoder must read it too.
func FuzzSpliceSnappy(f *testing.F) {
	f.Add(bytes.Repeat([]byte("kube_pod_status_phase{namespace=\"a\"} "), 40), uint64(1))
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), uint64(2))
	f.Add([]byte{}, uint64(3))
	f.Add(bytes.Repeat([]byte("container_memory_working_set_bytes{pod=\"api-7\"} "), 60), uint64(7))
	f.Fuzz(func(t *testing.T, orig []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		var src []byte
		switch seed % 4 {
		case 0:
			src = s2.EncodeSnappy(nil, orig)
		case 1:
			src = snappy.Encode(nil, orig)
		case 2:
			src = s2.EncodeSnappyBest(nil, orig)
		default:
			// The reference encoder, which many senders use.
			src = golangsnappy.Encode(nil, orig)
		}
		var (
			out    []byte
			fresh  []byte // out's bytes that are not copies
			copied []copiedRange
		)
		for from := 0; from < len(orig); {
			if rng.IntN(3) == 0 { // new bytes
				for range rng.IntN(20) {
					b := byte(rng.Uint32())
					out = append(out, b)
					fresh = append(fresh, b)
				}
			}
			from += rng.IntN(16) // skipped: dropped from the original
			if from >= len(orig) {
				break
			}
			n := 1 + rng.IntN(len(orig)-from)
			copied = append(copied, copiedRange{from: from, to: len(out), n: n})
			out = append(out, orig[from:from+n]...)
			from += n
		}
		// Read as a patch leaves it: copies from the original, the new
		// bytes apart.
		patched := &patchedBytes{orig: orig, fresh: fresh, copied: copied, size: len(out)}
		spliced, ok := spliceSnappy(nil, src, patched, math.MaxInt)
		if !ok {
			t.Fatalf("splice refused a valid block and ordered ranges")
		}
		for name, decode := range map[string]func([]byte, []byte) ([]byte, error){
			"klauspost": snappy.Decode, "golang": golangsnappy.Decode,
		} {
			got, err := decode(nil, spliced)
			if err != nil {
				t.Fatalf("spliced block does not decode with %s/snappy: %v", name, err)
			}
			if !bytes.Equal(got, out) {
				t.Fatalf("spliced block decodes with %s/snappy to %x, want %x", name, got, out)
			}
		}
	})
}

// TestRewriteLongFieldHeaders checks a request whose touched series has
// its length written in more bytes than it needs, as protobuf allows: the
// patch cannot find where the field starts from the series' message, so
// it walks the request, and writes what it writes for the same request
// encoded minimally. An untouched series with such a length is copied as
// it came.
func TestRewriteLongFieldHeaders(t *testing.T) {
	untouched := withSamples(series("__name__", "up", "job", "x"), 1000, 1)
	touched := withSamples(series("__name__", "m", "job", "a"), 1000, 1, 1000, 2, 2000, 3)
	// padLength writes the length of the series fields listed in pad one
	// byte longer than needed.
	padLength := func(raw []byte, pad ...int) []byte {
		var out []byte
		for i := 0; len(raw) > 0; i++ {
			num, typ, n := protowire.ConsumeTag(raw)
			require.Greater(t, n, 0)
			msg, m := protowire.ConsumeBytes(raw[n:])
			require.Equal(t, protowire.Number(rw1WriteRequestTimeseries), num)
			require.Equal(t, protowire.BytesType, typ)
			out = protowire.AppendTag(out, num, typ)
			l := protowire.AppendVarint(nil, uint64(len(msg)))
			if slices.Contains(pad, i) {
				l[len(l)-1] |= 0x80
				l = append(l, 0)
			}
			out = append(append(out, l...), msg...)
			raw = raw[n+m:]
		}
		return out
	}
	minimal := marshalRaw(t, untouched, touched)
	patch := func(raw []byte) ([]byte, *Request, *Patch) {
		r := &Request{Buf: raw}
		require.NoError(t, DecodeRW1(r))
		var res Result
		NewInspector(NewIdentity(nil)).Inspect(r, &res)
		p := &Patch{}
		require.True(t, p.Plan(r, &res, StaticPolicy(ActionKeepFirst)))
		require.Equal(t, []bool{false, true}, p.touched)
		body := s2.EncodeSnappy(nil, raw)
		decoded, err := snappy.Decode(nil, p.EncodeFrom(r, body))
		require.NoError(t, err)
		require.Equal(t, p.Protobuf(), decoded)
		return decoded, r, p
	}
	want, rMin, p := patch(minimal)
	require.True(t, p.fieldsKnown(rMin, rw1WriteRequestTimeseries))
	var wr prompb.WriteRequest
	require.NoError(t, wr.Unmarshal(want))
	require.Len(t, wr.Timeseries, 2)
	require.Len(t, wr.Timeseries[1].Samples, 2, "keep-first left the touched series as it was")

	got, r, p := patch(padLength(minimal, 1))
	require.False(t, p.fieldsKnown(r, rw1WriteRequestTimeseries), "a padded length taken for the minimal one")
	require.Equal(t, want, got)

	padded := padLength(minimal, 0)
	got, r, p = patch(padded)
	require.True(t, p.fieldsKnown(r, rw1WriteRequestTimeseries))
	first, firstMin := int(r.Series[0].Raw.End), int(rMin.Series[0].Raw.End)
	require.Equal(t, padded[:first], got[:first], "the untouched series as it came")
	require.Equal(t, want[firstMin:], got[first:])
}

// TestPatchAfterPanickedEncode checks that a patch whose last encode
// panicked half way (a push that failed open, its Checked pooled again)
// writes the next request as if new.
func TestPatchAfterPanickedEncode(t *testing.T) {
	r := decodeBody(t, benchRequest(t, 200, 2))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	var want, p Patch
	require.True(t, want.Plan(r, &res, StaticPolicy(ActionKeepFirst)))
	want.Encode(r)

	// As an encode that panicked half way leaves them.
	p.skipped, p.copied, p.fresh = 12345, []copiedRange{{0, 0, 7}}, []byte("garbage")
	require.True(t, p.Plan(r, &res, StaticPolicy(ActionKeepFirst)))
	decoded, err := snappy.Decode(nil, p.Encode(r))
	require.NoError(t, err)
	require.Equal(t, want.Protobuf(), decoded)
}
