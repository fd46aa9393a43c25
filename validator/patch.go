package validator

import (
	"cmp"
	"math"
	"slices"
)

// DefaultDisambiguationLabel is the label the label action adds to the
// second, third, ... colliding series.
const DefaultDisambiguationLabel = "duplicate_index"

// Outcome is what was done about one duplicate sample.
type Outcome struct {
	// Action is the action applied.
	Action Action
	// Requested is the action the policy chose when it could not apply to
	// this duplicate and Action is its keep-first fallback; empty otherwise.
	Requested Action
	// Dropped, Changed and Relabelled count the samples this duplicate
	// caused to be removed, given a new value, or moved to a series with the
	// disambiguation label. A sample that is not itself a duplicate (the
	// first of its group) is counted on the duplicate that replaced it.
	Dropped, Changed, Relabelled int32
}

// Patch applies actions to a request. Plan decides, per sample, what
// happens to it; an encoder then writes the request that plan describes.
// Untouched series are copied as their original bytes; only series that
// lose samples, get new values or get the disambiguation label are
// re-encoded.
type Patch struct {
	// LabelName is the disambiguation label of the label action;
	// DefaultDisambiguationLabel when empty.
	LabelName string
	// MaxLabelNames, when positive, is the most labels a series may have
	// upstream: a group the label action would take past it on any of its
	// series is kept as keep-first keeps it instead.
	MaxLabelNames int
	// Identity is the series identity the request was inspected with; nil
	// leaves no label out.
	Identity *Identity

	// Outcomes[k] is what was done with Result.Duplicates[k].
	Outcomes []Outcome
	// Dropped, Changed and Relabelled are the totals of Outcomes: samples
	// and histograms removed, given a new value, and labelled.
	Dropped, Changed, Relabelled int
	// Rejected is set when the action of some duplicate is reject: the
	// request must be refused as a whole, not forwarded.
	Rejected bool

	// The per-sample plan every encoder follows: samples[k] is the fate of
	// Request.Samples[k], hists[k] that of Request.Histograms[k]; touched[i]
	// says whether series i must be re-encoded at all.
	samples []samplePlan
	hists   []histPlan
	touched []bool

	order []int32 // duplicate indexes, grouped by their first sample
	cands []member

	// The encoders write only what the patched request does not copy from
	// the request, to fresh; copied says where the copies go, skipped
	// counts their bytes. A splice reads the copies from the request
	// itself (patchedBytes), so that proto, the patched request written
	// out, is written only when needed.
	fresh   []byte
	copied  []copiedRange
	skipped int
	// pending is the request whose patched request fresh and copied
	// describe, not yet written to proto.
	pending    *Request
	proto      []byte
	compressed []byte
	scratch    []byte
	refs       []uint64 // label references, for the RW2 encoder

	// taken holds the identities and timestamps of the request's series
	// that carry the disambiguation label, once takenKnown (label_ranks.go).
	taken      map[string]struct{}
	takenKnown bool

	// copies records the series copies the label action made (across.go).
	copies       recordBatch
	copiesLatest []Latest
	copyAt       map[uint64]int
}

// samplePlan is the fate of one float sample.
type samplePlan struct {
	drop bool
	set  bool // Value replaces the sample's value
	// rank > 0 moves the sample to a copy of its series that carries the
	// disambiguation label with this value.
	rank  int32
	value float64
}

// histPlan is the fate of one histogram sample.
type histPlan struct {
	drop bool
	rank int32
	// raw, when not nil, replaces the encoded histogram message (the same
	// fields in RW1 and RW2).
	raw []byte
}

// member is one sample of a duplicate group; dup is its index in
// Result.Duplicates, -1 for the group's first sample.
type member struct {
	ref SampleRef
	dup int32
}

// Reset empties the patch, keeping its buffers.
func (p *Patch) Reset() {
	p.pending = nil
	p.Outcomes = p.Outcomes[:0]
	p.Dropped, p.Changed, p.Relabelled = 0, 0, 0
	p.Rejected = false
	p.resetTaken()
}

func (p *Patch) labelName() string {
	if p.LabelName == "" {
		return DefaultDisambiguationLabel
	}
	return p.LabelName
}

// Plan decides what policy says to do with every duplicate of res. It
// reports whether the request must change; when Rejected is set afterwards
// the request must not be forwarded at all.
//
// The samples sharing an identity and timestamp in the request form a
// group, and the action chosen for the group's first duplicate applies to
// the whole group. A duplicate of a sample forwarded in an earlier request
// is handled alone: only report, keep-first and reject can apply to it.
func (p *Patch) Plan(r *Request, res *Result, policy Policy) bool {
	p.Reset()
	p.samples = resizeCleared(p.samples, len(r.Samples))
	p.hists = resizeCleared(p.hists, len(r.Histograms))
	p.touched = resizeCleared(p.touched, len(r.Series))
	if cap(p.Outcomes) < len(res.Duplicates) {
		p.Outcomes = make([]Outcome, len(res.Duplicates))
	}
	p.Outcomes = p.Outcomes[:len(res.Duplicates)]

	p.order = p.order[:0]
	for k := range res.Duplicates {
		d := &res.Duplicates[k]
		p.Outcomes[k] = Outcome{Action: policy.ActionFor(r, d)}
		if d.Kind == AcrossRequests {
			continue
		}
		p.order = append(p.order, int32(k))
	}
	// Duplicates of earlier requests first: a sample they drop is no longer
	// a candidate of its group in this request.
	for k := range res.Duplicates {
		if res.Duplicates[k].Kind == AcrossRequests {
			p.planAcrossRequests(&res.Duplicates[k], int32(k))
		}
	}
	ds := res.Duplicates
	slices.SortStableFunc(p.order, func(a, b int32) int {
		fa, fb := ds[a].First, ds[b].First
		if fa.Histogram != fb.Histogram {
			if fa.Histogram {
				return 1
			}
			return -1
		}
		return cmp.Compare(fa.Index, fb.Index)
	})
	for lo := 0; lo < len(p.order); {
		hi := lo + 1
		first := ds[p.order[lo]].First
		for hi < len(p.order) && ds[p.order[hi]].First == first {
			hi++
		}
		p.planGroup(r, res, p.order[lo:hi])
		lo = hi
	}
	return p.Dropped > 0 || p.Changed > 0 || p.Relabelled > 0
}

func (p *Patch) planAcrossRequests(d *Duplicate, k int32) {
	o := &p.Outcomes[k]
	switch o.Action {
	case ActionReport:
		return
	case ActionReject:
		p.Rejected = true
		return
	}
	if !o.Action.appliesAcrossRequests() {
		// The first sample is already upstream: nothing but keeping it
		// can make the series consistent.
		o.Requested, o.Action = o.Action, ActionKeepFirst
	}
	if p.drop(d.Sample) {
		o.Dropped++
	}
}

// planGroup plans one group: the duplicates idx, which share their first
// sample, in request order.
func (p *Patch) planGroup(r *Request, res *Result, idx []int32) {
	action := p.Outcomes[idx[0]].Action
	for _, k := range idx {
		p.Outcomes[k].Action = action
	}
	first := res.Duplicates[idx[0]].First
	// Only across_requests drops precede the groups: a dropped first
	// sample means the upstream already holds this timestamp, so whatever
	// the group keeps would conflict with it there.
	alreadyUpstream := p.isDropped(first)
	cands := append(p.cands[:0], member{ref: first, dup: -1})
	for _, k := range idx {
		if ref := res.Duplicates[k].Sample; !p.isDropped(ref) {
			cands = append(cands, member{ref: ref, dup: k})
		}
	}
	p.cands = cands
	if action == ActionReject {
		p.Rejected = true
		return
	}
	if action == ActionReport {
		return
	}
	// The group's across_requests duplicate, if any, is judged by what the
	// group forwards or would have forwarded.
	p.judgeRepeatedGroup(r, res, cands, action)
	if alreadyUpstream {
		for _, c := range cands[1:] {
			if p.drop(c.ref) {
				p.Outcomes[c.dup].Dropped++
			}
			if action != ActionKeepFirst {
				p.Outcomes[c.dup].Requested, p.Outcomes[c.dup].Action = action, ActionKeepFirst
			}
		}
		return
	}
	if len(cands) < 2 {
		return
	}
	ok := true
	switch action {
	case ActionKeepFirst:
		p.keep(cands, 0)
	case ActionKeepLast:
		if ok = oneKind(cands); ok {
			p.keepValueOf(r, cands, len(cands)-1)
		}
	case ActionKeepMax, ActionKeepMin:
		var i int
		if i, ok = pickExtreme(r, cands, action == ActionKeepMax); ok {
			p.keepValueOf(r, cands, i)
		}
	case ActionSum:
		ok = p.sum(r, cands)
	case ActionLabel:
		if ok = p.labelFits(r, cands); ok {
			p.label(r, cands, res.Duplicates[idx[0]].TimestampMs)
		}
	}
	if !ok {
		for _, k := range idx {
			p.Outcomes[k].Requested, p.Outcomes[k].Action = action, ActionKeepFirst
		}
		p.keep(cands, 0)
	}
}

// judgeRepeatedGroup judges the across_requests duplicate of a group's
// first sample (group[0]; the group's other samples follow, whether the
// upstream already holds its timestamp or not) by what action forwards, or
// would have forwarded, for the group, not by the first sample: a sender
// retrying a push that keep-last, keep-max, keep-min or sum patched sends
// the group as it first did, and its first sample differs from the value
// forwarded then, though nothing conflicts. Such a repeat is identical,
// and its example shows the sample that was kept.
func (p *Patch) judgeRepeatedGroup(r *Request, res *Result, group []member, action Action) {
	first := group[0].ref
	// p.order holds the other kinds' duplicates: all of them, when the
	// request repeats nothing forwarded earlier.
	if len(group) < 2 || len(p.order) == len(res.Duplicates) || !oneKind(group) {
		return
	}
	j := slices.IndexFunc(res.Duplicates, func(d Duplicate) bool {
		return d.Kind == AcrossRequests && d.Sample == first
	})
	if j < 0 {
		return
	}
	kept, fw, ok := groupForwards(r, group, action)
	if !ok {
		return
	}
	// Either way round: a first sample equal to the recorded one does not
	// make the group identical when it would forward another value.
	d := &res.Duplicates[j]
	d.Conflicting = fw.Histogram != d.RecordedHistogram || fw.Value != d.RecordedValue
	if !d.Conflicting {
		d.Sample = kept
	}
}

// groupForwards returns what action forwards at the first sample of a
// group of one kind, as the record keeps it (float bits, or the hash of a
// histogram's encoding), and the sample whose value that is. It is false
// for keep-first and when the action falls back to it.
func groupForwards(r *Request, group []member, action Action) (SampleRef, Latest, bool) {
	first := group[0].ref
	kept := first
	switch action {
	case ActionKeepLast:
		kept = group[len(group)-1].ref
	case ActionKeepMax, ActionKeepMin:
		i, ok := pickExtreme(r, group, action == ActionKeepMax)
		if !ok {
			return SampleRef{}, Latest{}, false
		}
		kept = group[i].ref
	case ActionSum:
		if first.Histogram {
			raw, ok := histogramSum(r, group)
			if !ok {
				return SampleRef{}, Latest{}, false
			}
			if raw != nil {
				return first, Latest{Value: encodingHash(raw), Histogram: true}, true
			}
			break
		}
		total, ok := sumFloats(r, group)
		if !ok {
			return SampleRef{}, Latest{}, false
		}
		return first, Latest{Value: math.Float64bits(total)}, true
	default:
		return SampleRef{}, Latest{}, false
	}
	if kept.Histogram {
		return kept, Latest{Value: histogramHash(r, r.Histograms[kept.Index]), Histogram: true}, true
	}
	return kept, Latest{Value: math.Float64bits(r.Samples[kept.Index].Value)}, true
}

// keep drops every candidate but cands[i].
func (p *Patch) keep(cands []member, i int) {
	kept := cands[i]
	for j, c := range cands {
		if j == i || !p.drop(c.ref) {
			continue
		}
		if c.dup >= 0 {
			p.Outcomes[c.dup].Dropped++
		} else {
			p.Outcomes[kept.dup].Dropped++
		}
	}
}

// keepValueOf keeps cands[i]'s value at the group's first sample and drops
// the others; the candidates are of one kind. The value moves, not the
// sample: a later TimeSeries entry of the series may follow a sample newer
// than the group's (or a sample of the series may repeat a timestamp after
// newer ones), and the TSDB, appending a series' samples in request order,
// would refuse the kept one as out of order and keep nothing at that
// timestamp. The group counts as having lost its other samples: its first
// is not counted as changed.
func (p *Patch) keepValueOf(r *Request, cands []member, i int) {
	first, kept := cands[0].ref, cands[i].ref
	if kept.Histogram {
		raw := r.Bytes(r.Histograms[kept.Index].Raw)
		if string(raw) != string(r.Bytes(r.Histograms[first.Index].Raw)) {
			p.hists[first.Index].raw = raw
			p.touched[first.Series] = true
		}
	} else if v := r.Samples[kept.Index].Value; math.Float64bits(v) != math.Float64bits(r.Samples[first.Index].Value) {
		p.samples[first.Index] = samplePlan{set: true, value: v}
		p.touched[first.Series] = true
	}
	p.keep(cands, 0)
}

// label moves the 2nd, 3rd, ... candidates to series carrying the
// disambiguation label "1", "2", ..., skipping a value whose series the
// request already holds at the group's timestamp ts (freeRank).
func (p *Patch) label(r *Request, cands []member, ts int64) {
	var rank int32
	for j := 1; j < len(cands); j++ {
		c := cands[j]
		rank = p.freeRank(r, int(c.ref.Series), ts, rank+1)
		if c.ref.Histogram {
			p.hists[c.ref.Index].rank = rank
		} else {
			p.samples[c.ref.Index].rank = rank
		}
		p.touched[c.ref.Series] = true
		p.Outcomes[c.dup].Relabelled++
		p.Relabelled++
	}
}

// labelFits reports whether every candidate the label action would move
// stays within MaxLabelNames with the disambiguation label added: the
// upstream refuses a series over its limit, and with it the whole push.
// Labels with an empty value and labels left out of identity (the
// upstream's drop_labels) are not counted, as Mimir removes them first.
func (p *Patch) labelFits(r *Request, cands []member) bool {
	if p.MaxLabelNames <= 0 {
		return true
	}
	name := p.labelName()
	for _, c := range cands[1:] {
		n := 1 // the disambiguation label
		for _, l := range r.SeriesLabels(int(c.ref.Series)) {
			ln := r.Bytes(l.Name)
			if l.Value.Len() == 0 || string(ln) == name || p.Identity != nil && p.Identity.ignored(ln) {
				continue
			}
			n++
		}
		if n > p.MaxLabelNames {
			return false
		}
	}
	return true
}

// chargeChange counts a new value for cands[0] on a duplicate of the group.
func (p *Patch) chargeChange(cands []member) {
	dup := cands[0].dup
	if dup < 0 {
		dup = cands[1].dup
	}
	p.Outcomes[dup].Changed++
	p.Changed++
	p.touched[cands[0].ref.Series] = true
}

func (p *Patch) isDropped(ref SampleRef) bool {
	if ref.Histogram {
		return p.hists[ref.Index].drop
	}
	return p.samples[ref.Index].drop
}

func (p *Patch) droppedSample(k int32) bool { return int(k) < len(p.samples) && p.samples[k].drop }

func (p *Patch) droppedHistogram(k int32) bool { return int(k) < len(p.hists) && p.hists[k].drop }

func (p *Patch) drop(ref SampleRef) bool {
	if p.isDropped(ref) {
		return false
	}
	if ref.Histogram {
		p.hists[ref.Index].drop = true
	} else {
		p.samples[ref.Index].drop = true
	}
	p.touched[ref.Series] = true
	p.Dropped++
	return true
}
