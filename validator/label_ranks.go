package validator

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// The label action's values must make series of their own: a series the
// sender already labelled with the disambiguation label (the value "1"
// of a series it sends, or a pushguard in front of this one) would take the
// moved sample as a duplicate of its own, and the upstream would keep one of
// the two. The identities the request holds with the label, at each of their
// timestamps, are collected once per request, and only when a group is
// labelled: most requests carry none, and then every value is free.

// resetTaken forgets the last request's labelled identities.
func (p *Patch) resetTaken() {
	p.takenKnown = false
	clear(p.taken)
}

// freeRank returns the smallest disambiguation value from from on under
// which series i does not collide, at timestamp ts, with a series of the
// request. Each value it skips is a distinct identity the request holds,
// so it ends.
func (p *Patch) freeRank(r *Request, i int, ts int64, from int32) int32 {
	p.collectTaken(r)
	if len(p.taken) == 0 {
		return from
	}
	for rank := from; ; rank++ {
		key := p.identityKey(r, i, strconv.Itoa(int(rank)))
		if _, ok := p.taken[takenKey(key, ts)]; !ok {
			// Taken from now on: another group's series may get here too
			// (one with the label and one without, otherwise alike).
			p.taken[takenKey(key, ts)] = struct{}{}
			return rank
		}
	}
}

// collectTaken indexes the timestamps of the request's series that carry
// the disambiguation label, by identity.
func (p *Patch) collectTaken(r *Request) {
	if p.takenKnown {
		return
	}
	p.takenKnown = true
	name := p.labelName()
	for i := range r.Series {
		if !slices.ContainsFunc(r.SeriesLabels(i), func(l Label) bool { return string(r.Bytes(l.Name)) == name && l.Value.Len() > 0 }) {
			continue
		}
		key := p.identityKey(r, i, "")
		if p.taken == nil {
			p.taken = map[string]struct{}{}
		}
		for _, s := range r.SeriesSamples(i) {
			p.taken[takenKey(key, s.TimestampMs)] = struct{}{}
		}
		for _, h := range r.SeriesHistograms(i) {
			p.taken[takenKey(key, h.TimestampMs)] = struct{}{}
		}
	}
}

// identityKey spells the identity of series i, with the disambiguation
// label set to rank when rank is not empty: its labels sorted, those with
// an empty value and those Identity leaves out left out.
func (p *Patch) identityKey(r *Request, i int, rank string) string {
	name := p.labelName()
	pairs := make([]string, 0, len(r.SeriesLabels(i))+1)
	for _, l := range r.SeriesLabels(i) {
		n, v := r.String(l.Name), r.String(l.Value)
		if n == name && rank != "" {
			continue
		}
		if v == "" || (p.Identity != nil && p.Identity.ignored(r.Bytes(l.Name))) {
			continue
		}
		pairs = append(pairs, n+"\xff"+v)
	}
	if rank != "" {
		pairs = append(pairs, name+"\xff"+rank)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\xfe")
}

func takenKey(identity string, ts int64) string {
	return identity + "\x00" + string(binary.BigEndian.AppendUint64(nil, uint64(ts)))
}
