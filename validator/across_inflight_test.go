package validator

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

// acrossOf returns c's across_requests duplicates.
func acrossOf(c *Checked) []Duplicate {
	var out []Duplicate
	for _, d := range c.Result.Duplicates {
		if d.Kind == AcrossRequests {
			out = append(out, d)
		}
	}
	return out
}

// check checks a push of series for meta's tenant, before forwarding.
func check(t *testing.T, v *Validator, meta Meta, series ...prompb.TimeSeries) *Checked {
	t.Helper()
	c, err := v.Check(meta, RW1, marshal(t, series...))
	require.NoError(t, err)
	return c
}

// TestAcrossRequestsInFlight documents what happens to two pushes of one
// series in flight at once: both are checked against the record as it was,
// so neither is a duplicate of the other; the upstream decides between them
// (Mimir keeps the first it stores and answers the other 400), and the
// record keeps the value accepted first.
func TestAcrossRequestsInFlight(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=keep-first")
	meta := Meta{Tenant: "team-a", Time: t0}
	a := check(t, v, meta, ruleSeries(1000, 1))
	b := check(t, v, meta, ruleSeries(1000, 2))
	require.Empty(t, a.Result.Duplicates)
	require.Empty(t, b.Result.Duplicates)
	v.Accepted(a, meta)
	v.Accepted(b, meta)
	a.Release()
	b.Release()

	c := check(t, v, meta, ruleSeries(1000, 2))
	defer c.Release()
	require.Equal(t, []dupWant{{AcrossRequests, true, 1000, 0, 0}}, dupsOf(c))
	require.Equal(t, math.Float64bits(1), c.Result.Duplicates[0].RecordedValue)
}

// TestAcrossRequestsRefusedInFlight: of two pushes of one series in
// flight at once, checked before forwarding, the upstream stores one and
// refuses the other (Mimir's 400 for the duplicate timestamp). The refused
// one is looked up again and reports the conflict, which neither saw when
// checked; a duplicate it found then is not counted twice.
func TestAcrossRequestsRefusedInFlight(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=keep-first")
	meta := Meta{Tenant: "team-a", Time: t0}
	a := check(t, v, meta, ruleSeries(1000, 1))
	b := check(t, v, meta, ruleSeries(1000, 2))
	require.Empty(t, b.Result.Duplicates)
	v.Settle(a, meta, 200)
	v.Settle(b, meta, 400)
	require.Equal(t, []dupWant{{AcrossRequests, true, 1000, 0, 0}}, dupsOf(b))
	require.Equal(t, []Outcome{{Action: ActionReport}}, b.Patch.Outcomes, "too late to patch: reported")
	a.Release()
	b.Release()
	offs, _ := v.Store().List("team-a", report.Filter{})
	require.Len(t, offs, 1)
	require.Equal(t, "across_requests", offs[0].Kind)
	require.EqualValues(t, 1, offs[0].ConflictingSamples)

	// Found when checked (and dropped by keep-first), then refused for
	// another reason: one duplicate, not two, and one lookup counted.
	lookups := testutil.ToFloat64(v.lookups.WithLabelValues("team-a"))
	c := check(t, v, meta, ruleSeries(1000, 5), withSamples(series("__name__", "other"), 1000, 1))
	require.Len(t, c.Result.Duplicates, 1)
	v.Settle(c, meta, 400)
	require.Len(t, c.Result.Duplicates, 1)
	require.Len(t, c.Patch.Outcomes, 1)
	require.Equal(t, lookups+2, testutil.ToFloat64(v.lookups.WithLabelValues("team-a")), "two identities, looked up once")
	c.Release()

	// Answered 202 (Mimir's HA tracker deduplicated the push): not a
	// refusal, not looked up again.
	d := check(t, v, meta, ruleSeries(2000, 1))
	e := check(t, v, meta, ruleSeries(2000, 2))
	v.Settle(d, meta, 200)
	v.Settle(e, meta, 202)
	require.Empty(t, e.Result.Duplicates)
	d.Release()
	e.Release()
}

// TestAcrossRequestsRetryOfAPatchedPush: a sender that did not get the
// answer to a push keep-last, keep-max, keep-min or sum patched sends it
// again as it was; its first sample differs from the value forwarded,
// but the group would forward that same value: an identical repeat, not a
// conflicting one. A push that would forward another value conflicts.
func TestAcrossRequestsRetryOfAPatchedPush(t *testing.T) {
	for _, tc := range []struct {
		action       string
		sent, other  [2]float64
		exampleValue report.Value
	}{
		{"keep-last", [2]float64{1, 2}, [2]float64{1, 3}, 2},
		{"keep-max", [2]float64{5, 7}, [2]float64{5, 6}, 7},
		{"keep-min", [2]float64{7, 5}, [2]float64{7, 6}, 5},
		{"sum", [2]float64{1, 2}, [2]float64{1, 3}, 1},
	} {
		t.Run(tc.action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+tc.action)
			meta := Meta{Tenant: "team-a", Time: t0}
			push := func(vals [2]float64) *Checked {
				c := check(t, v, meta, ruleSeries(1000, vals[0]), ruleSeries(1000, vals[1]))
				v.Settle(c, meta, 200)
				return c
			}
			push(tc.sent).Release()
			retry := push(tc.sent)
			across := acrossOf(retry)
			require.Len(t, across, 1)
			require.False(t, across[0].Conflicting, "the retry forwards what the first push did")
			require.True(t, retry.AllDropped(), "and nothing of it goes upstream again")
			retry.Release()
			offs, _ := v.Store().List("team-a", report.Filter{Kind: "across_requests"})
			require.Len(t, offs, 1)
			require.Zero(t, offs[0].ConflictingSamples)
			require.Equal(t, tc.exampleValue, offs[0].Example.Values[1], "the example shows the sample that was kept")

			other := push(tc.other)
			for _, d := range acrossOf(other) {
				require.True(t, d.Conflicting, "another value than the one forwarded")
			}
			other.Release()
		})
	}
}

// TestAcrossRequestsRetryOfAPatchedHistogramGroup: as for floats, the
// retry of a push whose histogram group an action resolved to another
// histogram than its first repeats what is stored.
func TestAcrossRequestsRetryOfAPatchedHistogramGroup(t *testing.T) {
	ruleHistogram := func(count uint64) prompb.TimeSeries {
		return withHistogram(series("__name__", "http_request_duration_seconds", "namespace", "shop"), 1000, testHistogram(count))
	}
	for _, tc := range []struct {
		action      string
		sent, other [2]uint64
	}{
		// other's first histogram is the one forwarded for sent, but
		// other resolves to another.
		{"keep-last", [2]uint64{3, 6}, [2]uint64{6, 7}},
		{"keep-max", [2]uint64{3, 6}, [2]uint64{6, 7}},
		{"keep-min", [2]uint64{6, 3}, [2]uint64{3, 2}},
		{"sum", [2]uint64{3, 6}, [2]uint64{9, 1}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+tc.action)
			meta := Meta{Tenant: "team-a", Time: t0}
			push := func(counts [2]uint64) *Checked {
				c := check(t, v, meta, ruleHistogram(counts[0]), ruleHistogram(counts[1]))
				v.Settle(c, meta, 200)
				return c
			}
			first := push(tc.sent)
			require.Positive(t, first.Patch.Dropped, "the first push is patched")
			first.Release()
			retry := push(tc.sent)
			across := acrossOf(retry)
			require.Len(t, across, 1)
			require.False(t, across[0].Conflicting, "the retry forwards what the first push did")
			require.True(t, retry.AllDropped())
			retry.Release()

			other := push(tc.other)
			across = acrossOf(other)
			require.Len(t, across, 1)
			require.True(t, across[0].Conflicting, "another histogram than the one forwarded")
			other.Release()
		})
	}
}

// TestAcrossRequestsGroupJudgedOnWhatItForwards: a group whose first
// sample repeats the recorded value, but which its action resolves to
// another, conflicts with what the upstream holds.
func TestAcrossRequestsGroupJudgedOnWhatItForwards(t *testing.T) {
	for action, vals := range map[string][2]float64{"keep-last": {1, 2}, "keep-max": {1, 2}, "keep-min": {1, 0}, "sum": {1, 1}} {
		t.Run(action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+action)
			meta := Meta{Tenant: "team-a", Time: t0}
			first := check(t, v, meta, ruleSeries(1000, 1))
			v.Settle(first, meta, 200)
			first.Release()
			c := check(t, v, meta, ruleSeries(1000, vals[0]), ruleSeries(1000, vals[1]))
			defer c.Release()
			across := acrossOf(c)
			require.Len(t, across, 1)
			require.True(t, across[0].Conflicting, "%s of %v forwards another value than the recorded 1", action, vals)
		})
	}
}

// TestAcrossRequestsRetryReportedOnly: with across_requests only
// reported, the retry of a patched push is patched again and forwarded,
// and repeats what is stored: identical.
func TestAcrossRequestsRetryReportedOnly(t *testing.T) {
	v, _ := newTestValidatorWithRules(t, []RuleConfig{{Kinds: []string{"across_requests"}, Action: "report"}}, "-validator.action=keep-last")
	meta := Meta{Tenant: "team-a", Time: t0}
	first := check(t, v, meta, ruleSeries(1000, 1), ruleSeries(1000, 2))
	v.Settle(first, meta, 200)
	first.Release()
	retry := check(t, v, meta, ruleSeries(1000, 1), ruleSeries(1000, 2))
	defer retry.Release()
	across := acrossOf(retry)
	require.Len(t, across, 1)
	require.False(t, across[0].Conflicting)
	require.False(t, retry.AllDropped(), "reported only: the retry goes upstream")
}

// TestAcrossRequestsRefusedJudgedOnWhatWasForwarded: a refused push is
// compared on what it forwarded, which its action may have changed.
func TestAcrossRequestsRefusedJudgedOnWhatWasForwarded(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=keep-max")
	meta := Meta{Tenant: "team-a", Time: t0}
	// a forwards max(5, 7) = 7 for the series; b, in flight with it,
	// sends 7 and is accepted first; a is refused for another series.
	a := check(t, v, meta, ruleSeries(1000, 5), ruleSeries(1000, 7), withSamples(series("__name__", "bad"), 1000, 1))
	b := check(t, v, meta, ruleSeries(1000, 7))
	v.Settle(b, meta, 200)
	v.Settle(a, meta, 400)
	across := acrossOf(a)
	require.Len(t, across, 1)
	require.False(t, across[0].Conflicting, "a forwarded 7, as b did")
	require.Len(t, a.Patch.Outcomes, len(a.Result.Duplicates))
	a.Release()
	b.Release()
}

// TestAcrossRequestsLabelledCopyRecorded: the copy of a series the label
// action forwarded is a series upstream; a later push that writes it at the
// same timestamp is an across_requests duplicate of it.
func TestAcrossRequestsLabelledCopyRecorded(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=label")
	meta := Meta{Tenant: "team-a", Time: t0}
	labelled := func(vals ...float64) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "duplicate_index", "1", "job", "ksm"), vals...)
	}
	first := check(t, v, meta, withSamples(series("__name__", "kube_job_status_failed", "job", "ksm"), 1000, 1, 1000, 2))
	require.Equal(t, 1, first.Patch.Relabelled)
	v.Settle(first, meta, 200)
	first.Release()

	for _, tc := range []struct {
		value       float64
		conflicting bool
	}{{2, false}, {9, true}} {
		c := check(t, v, meta, labelled(1000, tc.value))
		across := acrossOf(c)
		require.Len(t, across, 1, "the copy holds a sample at 1000")
		require.Equal(t, tc.conflicting, across[0].Conflicting, "the copy holds 2, the push sends %v", tc.value)
		c.Release()
	}
}
