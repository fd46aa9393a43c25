package validator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// modelMember is one sample of the model's view of a request.
type modelMember struct {
	v    groupValue
	hist *prompb.Histogram
}

// modelGroups walks a request in order and returns, per (identity,
// timestamp), its samples in request order.
func modelGroups(t testing.TB, in []prompb.TimeSeries) (map[groupKey][]modelMember, []groupKey) {
	groups := map[groupKey][]modelMember{}
	var order []groupKey
	add := func(g groupKey, m modelMember) {
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], m)
	}
	for _, ts := range in {
		id := identityKey(ts.Labels)
		for _, s := range ts.Samples {
			add(groupKey{id, s.Timestamp}, modelMember{v: groupValue{bits: math.Float64bits(s.Value)}})
		}
		for k := range ts.Histograms {
			h := ts.Histograms[k]
			add(groupKey{id, h.Timestamp}, modelMember{v: histogramValue(t, h), hist: &h})
		}
	}
	return groups, order
}

// appendedInOrder returns the (identity, timestamp) pairs a TSDB without
// out-of-order ingestion holds after appending the request: entries in
// request order, in each its floats then its histograms, a sample refused
// when its series already has a later one.
func appendedInOrder(in []prompb.TimeSeries) map[groupKey]bool {
	latest := map[string]int64{}
	held := map[groupKey]bool{}
	add := func(id string, ts int64) {
		if last, ok := latest[id]; ok && ts < last {
			return
		}
		latest[id] = ts
		held[groupKey{id, ts}] = true
	}
	for _, s := range in {
		id := identityKey(s.Labels)
		for _, smp := range s.Samples {
			add(id, smp.Timestamp)
		}
		for _, h := range s.Histograms {
			add(id, h.Timestamp)
		}
	}
	return held
}

// values returns what is compared bit for bit: float bits, encoded
// histograms.
func values(ms []modelMember) []groupValue {
	out := make([]groupValue, len(ms))
	for i, m := range ms {
		out[i] = m.v
	}
	return out
}

func mixed(ms []modelMember) bool {
	for _, m := range ms[1:] {
		if m.v.hist != ms[0].v.hist {
			return true
		}
	}
	return false
}

// modelMeasure is what keep-max and keep-min compare; NaN for a sample that
// loses to every number.
func modelMeasure(m modelMember) float64 {
	if m.hist == nil {
		return math.Float64frombits(m.v.bits)
	}
	if value.IsStaleNaN(m.hist.Sum) {
		return math.NaN()
	}
	if m.hist.IsFloatHistogram() {
		return m.hist.GetCountFloat()
	}
	return float64(m.hist.GetCountInt())
}

// modelKeep returns the index of the member an action keeps, or -1 when the
// action does not pick one (report, label, sum).
func modelKeep(a Action, ms []modelMember) int {
	switch a {
	case ActionKeepFirst:
		return 0
	case ActionKeepLast:
		if mixed(ms) {
			return 0
		}
		return len(ms) - 1
	case ActionKeepMax, ActionKeepMin:
		if mixed(ms) {
			return 0
		}
		best := -1
		for i, m := range ms {
			v := modelMeasure(m)
			if math.IsNaN(v) {
				continue
			}
			if best < 0 || (a == ActionKeepMax && v > modelMeasure(ms[best])) || (a == ActionKeepMin && v < modelMeasure(ms[best])) {
				best = i
			}
		}
		return max(best, 0)
	case ActionSum:
		if mixed(ms) {
			return 0
		}
	}
	return -1
}

// modelSum returns the value a sum group forwards: floats added in request
// order without stale markers, histograms with FloatHistogram.Add.
func modelSum(t testing.TB, ms []modelMember) (float64, *histogram.FloatHistogram, bool) {
	if ms[0].hist == nil {
		total, n := 0.0, 0
		for _, m := range ms {
			if v := math.Float64frombits(m.v.bits); !value.IsStaleNaN(v) {
				total += v
				n++
			}
		}
		return total, nil, n > 0
	}
	var acc *histogram.FloatHistogram
	for _, m := range ms {
		if value.IsStaleNaN(m.hist.Sum) {
			continue
		}
		if acc == nil {
			acc = m.hist.ToFloatHistogram()
			continue
		}
		_, _, _, err := acc.Add(m.hist.ToFloatHistogram())
		require.NoError(t, err)
	}
	return 0, acc, acc != nil
}

// outputSamples indexes a patched request by (identity, timestamp).
func outputSamples(t testing.TB, wr prompb.WriteRequest) (map[groupKey][]modelMember, int) {
	out := map[groupKey][]modelMember{}
	n := 0
	for _, ts := range wr.Timeseries {
		id := identityKey(ts.Labels)
		for _, s := range ts.Samples {
			out[groupKey{id, s.Timestamp}] = append(out[groupKey{id, s.Timestamp}], modelMember{v: groupValue{bits: math.Float64bits(s.Value)}})
			n++
		}
		for k := range ts.Histograms {
			h := ts.Histograms[k]
			out[groupKey{id, h.Timestamp}] = append(out[groupKey{id, h.Timestamp}], modelMember{v: histogramValue(t, h), hist: &h})
			n++
		}
	}
	return out, n
}

// withDisambiguation returns the identity of id with label name=value.
func withDisambiguation(id, name string, v int) string {
	pairs := strings.Split(id, "\x01")
	pairs = append(pairs, fmt.Sprintf("%s\x00%d", name, v))
	slices.Sort(pairs)
	return strings.Join(pairs, "\x01")
}

func TestPlanActionsProperties(t *testing.T) {
	inspector := NewInspector(NewIdentity(nil))
	for _, action := range Actions {
		t.Run(string(action), func(t *testing.T) {
			for seed := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
				for n := range 60 {
					msg := fmt.Sprintf("seed %d request %d", seed, n)
					checkActionProperties(t, inspector, action, randomRequest(rng), msg)
				}
			}
		})
	}
}

func checkActionProperties(t *testing.T, inspector *Inspector, action Action, in []prompb.TimeSeries, msg string) {
	groups, order := modelGroups(t, in)
	inputSamples, repeats, mixedRepeats := 0, 0, 0
	for _, g := range order {
		ms := groups[g]
		inputSamples += len(ms)
		repeats += len(ms) - 1
		if len(ms) > 1 && mixed(ms) {
			mixedRepeats += len(ms) - 1
		}
	}

	r := decodeBody(t, marshalRequest(t, testMetadata, in...))
	var res Result
	inspector.Inspect(r, &res)
	require.Len(t, res.Duplicates, repeats, msg)

	var p Patch
	changed := p.Plan(r, &res, StaticPolicy(action))
	require.Len(t, p.Outcomes, len(res.Duplicates), msg)
	var dropped, changedN, relabelled, fallbacks int
	for _, o := range p.Outcomes {
		dropped += int(o.Dropped)
		changedN += int(o.Changed)
		relabelled += int(o.Relabelled)
		if o.Requested != "" {
			fallbacks++
			require.Equal(t, ActionKeepFirst, o.Action, msg)
			require.Equal(t, action, o.Requested, msg)
		} else {
			require.Equal(t, action, o.Action, msg)
		}
	}
	require.Equal(t, p.Dropped, dropped, msg)
	require.Equal(t, p.Changed, changedN, msg)
	require.Equal(t, p.Relabelled, relabelled, msg)

	switch action {
	case ActionReport:
		requireReportUnchanged(t, r, &res)
		return
	case ActionReject:
		require.Equal(t, repeats > 0, p.Rejected, msg)
		require.False(t, changed, msg)
		if repeats > 0 {
			err := p.RejectError(r, &res)
			require.ErrorContains(t, err, fmt.Sprintf("push refused: %d samples", repeats), msg)
			require.True(t, strings.HasSuffix(err.Error(), "(err-pushguard-sample-duplicate-timestamp)"), msg)
			require.Equal(t, min(repeats, maxRejectedExamples), strings.Count(err.Error(), " at "), msg)
			require.Equal(t, CauseBadData, CauseOf(err), msg)
		}
		return
	}
	require.False(t, p.Rejected, msg)
	if action != ActionKeepFirst && action != ActionLabel {
		require.Equal(t, mixedRepeats, fallbacks, msg)
	} else {
		require.Zero(t, fallbacks, msg)
	}

	got := unmarshal(t, p.Encode(r))
	requireSameMessages(t, metadataPtrs(testMetadata), metadataPtrs(got.Metadata), msg)
	out, outputSamples := outputSamples(t, got)

	wantChanged := 0
	for _, g := range order {
		ms := groups[g]
		gotMs := out[g]
		if len(ms) == 1 {
			// Outside every duplicate group: forwarded bit for bit.
			require.Equal(t, values(ms), values(gotMs), "%s: %q@%d", msg, g.identity, g.ts)
			continue
		}
		if action == ActionLabel {
			// Every sample is kept: the first under its own labels, the
			// k-th repeat in a series labelled duplicate_index="k".
			require.Equal(t, values(ms[:1]), values(gotMs), msg)
			for k := 1; k < len(ms); k++ {
				lg := groupKey{withDisambiguation(g.identity, DefaultDisambiguationLabel, k), g.ts}
				require.Equal(t, values(ms[k:k+1]), values(out[lg]), "%s: repeat %d", msg, k)
			}
			continue
		}
		require.Len(t, gotMs, 1, "%s: %q@%d", msg, g.identity, g.ts)
		if keep := modelKeep(action, ms); keep >= 0 {
			require.Equal(t, ms[keep].v, gotMs[0].v, "%s: %q@%d", msg, g.identity, g.ts)
			continue
		}
		// sum
		f, fh, ok := modelSum(t, ms)
		switch {
		case !ok:
			require.Equal(t, ms[0].v, gotMs[0].v, msg)
		case fh == nil:
			require.Equal(t, math.Float64bits(f), gotMs[0].v.bits, msg)
			if math.Float64bits(f) != ms[0].v.bits {
				wantChanged++
			}
		default:
			require.NotNil(t, gotMs[0].hist, msg)
			require.True(t, fh.Equals(gotMs[0].hist.ToFloatHistogram()), "%s: %s != %s", msg, fh, gotMs[0].hist.ToFloatHistogram())
			require.False(t, gotMs[0].hist.IsFloatHistogram(), "%s: a sum of integer histograms stays an integer histogram", msg)
			if gotMs[0].v != ms[0].v {
				wantChanged++
			}
		}
	}

	// Nothing forwarded twice, nothing invented.
	for g, ms := range out {
		require.Len(t, ms, 1, "%s: %q@%d forwarded %d times", msg, g.identity, g.ts, len(ms))
	}
	// Every timestamp the TSDB takes from the request as it came, it takes
	// from the patched one: what a group keeps is not put after a newer
	// sample of its series.
	appended := appendedInOrder(got.Timeseries)
	for g := range appendedInOrder(in) {
		require.True(t, appended[g], "%s: %q@%d is refused as out of order once patched", msg, g.identity, g.ts)
	}
	require.Equal(t, wantChanged, p.Changed, msg)
	if action == ActionLabel {
		require.Equal(t, inputSamples, outputSamples, msg)
		require.Equal(t, repeats, p.Relabelled, msg)
		require.Zero(t, p.Dropped, msg)
		require.Equal(t, repeats > 0, changed, msg)
		return
	}
	require.Equal(t, repeats, p.Dropped, msg)
	require.Equal(t, inputSamples-p.Dropped, outputSamples, msg)
	require.Zero(t, p.Relabelled, msg)
	require.Equal(t, repeats > 0, changed, msg)
}
