package validator

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sampleID names one sample of a request for multiset comparisons: its
// series' identity, its timestamp and its value (or histogram) bytes. The
// identity, not the labels as sent: keep-last, keep-max and keep-min write
// the kept value at the group's first sample, which may be an entry of the
// series whose labels were sent otherwise (an empty label, another order).
type sampleID struct {
	labels string
	ts     int64
	value  string
}

// seriesLabels returns series i's identity: its label pairs sorted, empty
// values left out.
func seriesLabels(r *Request, i int) (identity string, repeatedName bool) {
	var pairs []string
	names := map[string]bool{}
	for _, l := range r.SeriesLabels(i) {
		name, value := r.String(l.Name), r.String(l.Value)
		repeatedName = repeatedName || names[name]
		names[name] = true
		if value != "" {
			pairs = append(pairs, name+"\xff"+value)
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\xfe"), repeatedName
}

// samplesOf returns the samples of r as a multiset, and whether two of
// them share an identity and timestamp; repeated label names make the
// identity ambiguous, which repeatedNames says.
func samplesOf(r *Request) (set map[sampleID]int, dupes bool, repeatedNames bool) {
	set = map[sampleID]int{}
	seen := map[string]bool{}
	for i := range r.Series {
		identity, rep := seriesLabels(r, i)
		repeatedNames = repeatedNames || rep
		add := func(ts int64, value string) {
			set[sampleID{identity, ts, value}]++
			key := identity + "\x00" + string(binary.AppendVarint(nil, ts))
			dupes = dupes || seen[key]
			seen[key] = true
		}
		for _, s := range r.SeriesSamples(i) {
			add(s.TimestampMs, string(binary.BigEndian.AppendUint64(nil, math.Float64bits(s.Value))))
		}
		for _, h := range r.SeriesHistograms(i) {
			add(h.TimestampMs, "h"+string(r.Bytes(h.Raw)))
		}
	}
	return set, dupes, repeatedNames
}

// FuzzActions checks every action on arbitrary requests: the patched
// request is a valid remote-write request, and its samples are a
// sub-multiset of the input's (keep-* actions) or a relabelled copy of
// them (label), never new ones; keep-* actions leave no duplicate behind.
func FuzzActions(f *testing.F) {
	f.Add(marshalRaw(f, withSamples(series("__name__", "m", "job", "a"), 1, 1, 1, 2), withSamples(series("__name__", "m", "job", "a"), 1, 3, 2, 4)))
	f.Add(marshalRaw(f, withSamples(series("job", "a", "__name__", "m"), 5, 1), withSamples(series("__name__", "m", "job", "a", "empty", ""), 5, 2)))
	f.Add(marshalRaw(f, withHistogram(series("__name__", "h"), 5, testHistogram(3)), withHistogram(series("__name__", "h"), 5, testHistogram(4))))
	f.Add(marshalRaw(f, withSamples(series("__name__", "m"), 1, math.NaN(), 1, math.NaN(), 1, math.Inf(1))))
	f.Add(marshalRaw(f, withSamples(series("__name__", "m"), 1, 1), withExemplar(withSamples(series("__name__", "m"), 1, 2), 1, 2, "cafe")))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := &Request{Buf: b}
		if DecodeRW1(in) != nil {
			return
		}
		inSet, _, repeated := samplesOf(in)
		for _, action := range Actions {
			if action == ActionReport || string(action) == "reject" {
				continue // nothing to patch
			}
			cfg := Config{Action: string(action), MaxRequestBytes: 1 << 30, MaxOffendersPerTenant: 100}
			v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			original := snappy.Encode(nil, b)
			c, err := v.Check(Meta{Tenant: "t"}, RW1, original)
			if err != nil {
				t.Fatalf("%s: %v", action, err)
			}
			body := c.Body(original)
			out := &Request{}
			if err := Decompress(body, 0, out); err != nil {
				t.Fatalf("%s: patched body does not decompress: %v", action, err)
			}
			if err := DecodeRW1(out); err != nil {
				t.Fatalf("%s: patched request does not decode: %v", action, err)
			}
			if !c.Changed && !bytes.Equal(body, original) {
				t.Fatalf("%s: an unchanged request must be forwarded as it came", action)
			}
			if out.Exemplars != in.Exemplars {
				t.Fatalf("%s: %d exemplars forwarded of %d", action, out.Exemplars, in.Exemplars)
			}
			outSet, dupes, _ := samplesOf(out)
			switch string(action) {
			case "sum", "label":
				// sum writes new values and label renames series: both
				// keep every timestamp of the input and add none.
				inTS, outTS := timestamps(inSet), timestamps(outSet)
				for ts := range outTS {
					if !inTS[ts] {
						t.Fatalf("%s: timestamp %d is not in the input", action, ts)
					}
				}
			default:
				for id, n := range outSet {
					if inSet[id] < n {
						t.Fatalf("%s: output sample %q@%d appears %d times, %d in the input", action, id.labels, id.ts, n, inSet[id])
					}
				}
				if dupes && !repeated {
					t.Fatalf("%s: a duplicate is left in the patched request", action)
				}
			}
			c.Release()
		}
	})
}

func timestamps(set map[sampleID]int) map[int64]bool {
	out := map[int64]bool{}
	for id := range set {
		out[id.ts] = true
	}
	return out
}

// FuzzCheck drives the whole body path, snappy included, with the limits
// on: whatever the bytes, the answer is a push to forward or an error with
// a stable ID of bad input, never a failure inside pushguard.
func FuzzCheck(f *testing.F) {
	f.Add(marshal(f, withSamples(series("__name__", "m", "job", "a"), 1, 1, 1, 2)))
	f.Add(snappy.Encode(nil, []byte{0x0a, 0x04, 0x12, 0x02, 0x08, 0x01}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00})
	f.Add([]byte{})
	cfg := Config{Action: string(ActionKeepFirst), MaxRequestBytes: 1 << 20, MaxOffendersPerTenant: 100,
		Limits: Limits{MaxSeriesPerRequest: 100, MaxLabelNamesPerSeries: 30, MaxLabelNameLength: 8, MaxLabelValueLength: 8}}
	v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		meta := Meta{Tenant: "t"}
		c, err := v.Check(meta, RW1, b)
		if err != nil {
			if IDOf(err) == ErrIDInternal || IDOf(err) == ErrIDInspectionFailed || CauseOf(err) == CauseInternal {
				t.Fatalf("internal failure on input: %v", err)
			}
			return
		}
		_ = c.Body(b)
		v.Record(c, meta)
		c.Release()
		if n := testutil.ToFloat64(v.failures.WithLabelValues("t")); n != 0 {
			t.Fatalf("%v inspection failures", n)
		}
	})
}
