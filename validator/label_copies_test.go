package validator

import (
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// TestLabelledCopiesRoundTrip: the series of a push the label action
// patched, pushed again as the upstream got them, are each found in the
// record, originals and copies alike, whatever the labels look like: the
// key a copy is recorded under is the identity the encoder gives it.
func TestLabelledCopiesRoundTrip(t *testing.T) {
	for name, tc := range map[string]struct {
		lbls []string
		args []string
	}{
		"plain":                     {lbls: []string{"__name__", "m", "job", "x"}},
		"unsorted":                  {lbls: []string{"job", "x", "__name__", "m"}},
		"empty value":               {lbls: []string{"__name__", "m", "a", "", "job", "x"}},
		"own label empty":           {lbls: []string{"__name__", "m", "duplicate_index", "", "job", "x"}},
		"own label empty, unsorted": {lbls: []string{"job", "x", "duplicate_index", "", "__name__", "m"}},
		"own label set":             {lbls: []string{"__name__", "m", "duplicate_index", "7", "job", "x"}},
		"long value":                {lbls: []string{"__name__", "m", "job", strings.Repeat("v", 200)}},
		"long name":                 {lbls: []string{"__name__", "m", strings.Repeat("n", 130), "x"}},
		"label message over 127":    {lbls: []string{"__name__", "m", "job", strings.Repeat("w", 120)}},
		"label sorting after it":    {lbls: []string{"__name__", "m", "zzz", "x"}},
		"a name twice":              {lbls: []string{"__name__", "m", "job", "x", "job", "y"}},
		"ignored label":             {lbls: []string{"__name__", "m", "__replica__", "r1", "job", "x"}, args: []string{"-validator.ignore-labels=__replica__"}},
	} {
		for version, vname := range map[Version]string{RW1: "rw1", RW2: "rw2"} {
			t.Run(name+"/"+vname, func(t *testing.T) {
				v, _ := newTestValidator(t, append([]string{"-validator.action=label", "-validator.disambiguation-max-label-names=0"}, tc.args...)...)
				meta := Meta{Tenant: "team-a", Time: t0}
				body := marshal(t, withSamples(series(tc.lbls...), 1000, 1, 1000, 2, 1000, 3))
				if version == RW2 {
					body = snappy.Encode(nil, marshalRW2(t, rw2Series{lbls: tc.lbls, samples: []writev2.Sample{{Timestamp: 1000, Value: 1}, {Timestamp: 1000, Value: 2}, {Timestamp: 1000, Value: 3}}}))
				}
				first, err := v.Check(meta, version, body)
				require.NoError(t, err)
				require.Equal(t, 2, first.Patch.Relabelled)
				forwarded := append([]byte(nil), first.Body(body)...)
				v.Settle(first, meta, 200)
				first.Release()

				again, err := v.Check(meta, version, forwarded)
				require.NoError(t, err)
				defer again.Release()
				across := acrossOf(again)
				require.Len(t, across, 3, "the original and both copies are recorded")
				for _, d := range across {
					require.False(t, d.Conflicting)
				}
			})
		}
	}
}

// TestLabelledCopyIdentityAgreesWithRanks: freeRank, which picks a copy's
// rank, and the record, which keeps the copy, name a copy alike: a copy
// is the identity of a series in the request exactly when the rank's
// spelling of it (identityKey) says so.
func TestLabelledCopyIdentityAgreesWithRanks(t *testing.T) {
	all := [][]string{
		{"__name__", "m", "job", "x"},
		{"__name__", "m", "job", "x", "duplicate_index", "1"},
		{"job", "x", "duplicate_index", "1", "__name__", "m"},
		{"__name__", "m", "job", "x", "duplicate_index", "2", "empty", ""},
		{"__name__", "m", "job", "x", "duplicate_index", "1", "__replica__", "b"},
		{"__name__", "m", "duplicate_index", "1"},
		{"__name__", "m", "job", "x", "pod", "p", "duplicate_index", "1"},
		{"__name__", "m", "job", "x", "duplicate_index", ""},
		{"__name__", "m", "job", "x", "job", "x", "duplicate_index", "1"},
	}
	var ts []prompb.TimeSeries
	for _, l := range all {
		ts = append(ts, withSamples(series(l...), 1000, 1))
	}
	r := decodeBody(t, marshal(t, ts...))
	id := NewIdentity([]string{"__replica__"})
	p := &Patch{Identity: id}
	var sc Scratch
	for i := range all {
		for _, rank := range []string{"1", "2"} {
			withRank := id.HashWith(r, i, []byte(DefaultDisambiguationLabel), []byte(rank), &sc)
			for j := range all {
				same := p.identityKey(r, i, rank) == p.identityKey(r, j, "")
				require.Equal(t, same, withRank == id.Hash(r, j, &sc), "series %v with rank %s against %v", all[i], rank, all[j])
			}
		}
	}
}

// TestForwardedSampleIsPlannedAtRankZero: forwardedSample, written out for
// speed, says what plannedSample says of a sample's own series.
func TestForwardedSampleIsPlannedAtRankZero(t *testing.T) {
	r := decodeBody(t, marshal(t, withSamples(series("__name__", "m"), 1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60)))
	p := &Patch{samples: []samplePlan{
		{},
		{drop: true},
		{set: true, value: 7},
		{rank: 1},
		{set: true, value: 8, rank: 2},
		// Sample 5 has no plan: the patch planned fewer samples.
	}}
	for k := range r.Samples {
		v, ok := p.forwardedSample(r, int32(k))
		pv, rank, pok := p.plannedSample(r, int32(k))
		require.Equal(t, pok && rank == 0, ok, "sample %d", k)
		if ok {
			require.Equal(t, pv, v, "sample %d", k)
		}
	}
}
