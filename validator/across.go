package validator

import (
	"math"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
)

// TenantHash returns the hash that folds a tenant into record keys.
func TenantHash(tenant string) uint64 { return xxhash.Sum64String(tenant) }

// groupChains links the series of each identity group in request order:
// res.next[i] is the next series of i's group, -1 after the last. Inspect
// must have filled res.Group. The chains are built once a request: the
// lookup before forwarding and the update after both walk them.
func groupChains(res *Result) {
	if res.chained {
		return
	}
	res.chained = true
	n := len(res.Group)
	res.next = resize(res.next, n)
	res.tail = resize(res.tail, n)
	for i := range n {
		res.next[i] = -1
		g := res.Group[i]
		if int(g) == i {
			res.tail[i] = int32(i)
			continue
		}
		res.next[res.tail[g]] = int32(i)
		res.tail[g] = int32(i)
	}
}

// histogramHash is the value the record keeps for a native histogram: the
// hash of its encoded message in field order (encodingHash). A sender that
// re-encodes one histogram differently (other spans for the same buckets)
// is seen as conflicting.
func histogramHash(r *Request, h Histogram) uint64 { return encodingHash(r.Bytes(h.Raw)) }

// forwardedSample returns the value float sample k of r goes upstream
// with in its own series as p planned it (see plannedSample). It is false
// for a sample that does not go, or goes to a series carrying the
// disambiguation label.
func (p *Patch) forwardedSample(r *Request, k int32) (float64, bool) {
	// plannedSample at rank 0, written out: it runs for every sample of a
	// patched push, and the general form costs that loop 8%.
	if int(k) >= len(p.samples) {
		return r.Samples[k].Value, true
	}
	switch sp := &p.samples[k]; {
	case sp.drop || sp.rank > 0:
		return 0, false
	case sp.set:
		return sp.value, true
	}
	return r.Samples[k].Value, true
}

// plannedSample returns the value float sample k of r goes upstream with
// as p planned it, the sender's or the one an action wrote there (the
// group's sum, the kept maximum...), and the disambiguation rank of the
// series it goes to, 0 for its own. It is false for a sample that does
// not go.
func (p *Patch) plannedSample(r *Request, k int32) (float64, int32, bool) {
	if int(k) >= len(p.samples) {
		return r.Samples[k].Value, 0, true
	}
	switch sp := &p.samples[k]; {
	case sp.drop:
		return 0, 0, false
	case sp.set:
		return sp.value, sp.rank, true
	default:
		return r.Samples[k].Value, sp.rank, true
	}
}

// forwardedAt returns what p forwards of the samples of identity group g
// (its first series) at ts: the first in request order that goes upstream,
// as the record keeps it, and whether any does.
func forwardedAt(r *Request, res *Result, p *Patch, g int32, ts int64) (Latest, bool) {
	for i := g; i >= 0; i = res.next[i] {
		s := &r.Series[i]
		for k := s.SamplesStart; k < s.SamplesEnd; k++ {
			if r.Samples[k].TimestampMs != ts {
				continue
			}
			if v, ok := p.forwardedSample(r, k); ok {
				return Latest{TimestampMs: ts, Value: math.Float64bits(v)}, true
			}
		}
		for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
			if r.Histograms[k].TimestampMs != ts {
				continue
			}
			if hash, ok := p.forwardedHistogram(r, k); ok {
				return Latest{TimestampMs: ts, Value: hash, Histogram: true}, true
			}
		}
	}
	return Latest{}, false
}

// forwardedHistogram is forwardedSample for histogram k, returning the
// hash of what goes upstream.
func (p *Patch) forwardedHistogram(r *Request, k int32) (uint64, bool) {
	hash, rank, ok := p.plannedHistogram(r, k)
	return hash, ok && rank == 0
}

// plannedHistogram is plannedSample for histogram k, returning the hash
// of what goes upstream.
func (p *Patch) plannedHistogram(r *Request, k int32) (uint64, int32, bool) {
	if int(k) >= len(p.hists) {
		return histogramHash(r, r.Histograms[k]), 0, true
	}
	switch hp := &p.hists[k]; {
	case hp.drop:
		return 0, 0, false
	case hp.raw != nil:
		return encodingHash(hp.raw), hp.rank, true
	default:
		return histogramHash(r, r.Histograms[k]), hp.rank, true
	}
}

// batchOf readies res's record batch for tenantHash: the identity groups
// chained, their keys built and grouped by shard, once a request.
func (sr *SeriesRecord) batchOf(tenantHash uint64, res *Result) *recordBatch {
	groupChains(res)
	sr.prepare(&res.batch, tenantHash, res)
	return &res.batch
}

// InspectAcross appends to res.Duplicates the samples of r whose series was
// already forwarded with a sample at the same timestamp, as far as the
// record remembers. Inspect must have run on r and res first. For each
// identity only the first sample at the recorded timestamp, in request
// order, is an across_requests duplicate: later samples at that timestamp
// are already within_series or across_series duplicates of it.
//
// The Duplicate's First is the sample itself, since the first sample is in
// an earlier request; RecordedValue and RecordedHistogram hold what that
// request forwarded. It returns the number of identities looked up and how
// many of them the record held.
func (sr *SeriesRecord) InspectAcross(tenantHash uint64, r *Request, res *Result, now time.Time) (lookups, hits int) {
	b := sr.batchOf(tenantHash, res)
	sr.getBatch(b, now)
	return len(b.group), appendAcross(r, res, b)
}

// InspectSettled is InspectAcross for a push forwarded as it came and
// accepted by the upstream, done once it answered, followed by Accepted,
// in one pass over the record: each series' slot is read and updated while
// its cache line is loaded, where a lookup before forwarding and an update
// after cost a cache miss each. The record it looks at holds every push
// accepted before this one was answered, including those that were in
// flight with it.
func (sr *SeriesRecord) InspectSettled(tenantHash uint64, r *Request, res *Result, p *Patch, now time.Time) (lookups, hits int) {
	b := sr.batchOf(tenantHash, res)
	forwardedLatest(r, res, p, b)
	sr.putBatch(b, now, true)
	return len(b.group), appendAcross(r, res, b)
}

// appendAcross appends to res.Duplicates the across_requests duplicates
// of the lookup in b, and returns how many identities the record held.
// For each identity only the first sample at the recorded timestamp is
// one (see InspectAcross).
func appendAcross(r *Request, res *Result, b *recordBatch) (hits int) {
	for i, g := range b.group {
		if !b.found[i] {
			continue
		}
		hits++
		latest := b.latest[i]
		ref, found := firstAt(r, res, g, latest.TimestampMs)
		if !found {
			continue
		}
		var same bool
		if ref.Histogram {
			same = latest.Histogram && histogramHash(r, r.Histograms[ref.Index]) == latest.Value
		} else {
			same = !latest.Histogram && math.Float64bits(r.Samples[ref.Index].Value) == latest.Value
		}
		res.Duplicates = append(res.Duplicates, Duplicate{
			Kind:              AcrossRequests,
			Conflicting:       !same,
			TimestampMs:       latest.TimestampMs,
			Sample:            ref,
			First:             ref,
			RecordedValue:     latest.Value,
			RecordedHistogram: latest.Histogram,
		})
	}
	return hits
}

// firstAt finds the first sample of group g, in request order, at ts.
func firstAt(r *Request, res *Result, g int32, ts int64) (SampleRef, bool) {
	for i := g; i >= 0; i = res.next[i] {
		s := &r.Series[i]
		for k := s.SamplesStart; k < s.SamplesEnd; k++ {
			if r.Samples[k].TimestampMs == ts {
				return SampleRef{Series: i, Index: k}, true
			}
		}
		for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
			if r.Histograms[k].TimestampMs == ts {
				return SampleRef{Series: i, Index: k, Histogram: true}, true
			}
		}
	}
	return SampleRef{}, false
}

// Accepted records, for each identity of r, the latest sample that was
// forwarded, i.e. not dropped by p. Call it only once the upstream accepted
// the request. At the latest timestamp the first sample in request order is
// the one recorded, as it is the one the upstream keeps.
func (sr *SeriesRecord) Accepted(tenantHash uint64, r *Request, res *Result, p *Patch, now time.Time) {
	b := sr.batchOf(tenantHash, res)
	forwardedLatest(r, res, p, b)
	sr.putBatch(b, now, false)
	if p.Relabelled > 0 {
		sr.putCopies(tenantHash, r, res, p, now)
	}
}

// putCopies records, for each copy of a series the label action made, the
// latest sample it forwarded: the copy is a series of its own upstream,
// which a later push may write itself.
func (sr *SeriesRecord) putCopies(tenantHash uint64, r *Request, res *Result, p *Patch, now time.Time) {
	id := p.Identity
	if id == nil {
		id = &Identity{}
	}
	name := []byte(p.labelName())
	b := &p.copies
	b.keys, p.copiesLatest = b.keys[:0], p.copiesLatest[:0]
	if p.copyAt == nil {
		p.copyAt = map[uint64]int{}
	}
	clear(p.copyAt)
	add := func(i int, rank int32, l Latest) {
		p.scratch = strconv.AppendInt(p.scratch[:0], int64(rank), 10)
		key := recordKey(tenantHash, id.HashWith(r, i, name, p.scratch, &res.scratch))
		if j, ok := p.copyAt[key]; ok {
			if l.TimestampMs > p.copiesLatest[j].TimestampMs {
				p.copiesLatest[j] = l
			}
			return
		}
		p.copyAt[key] = len(b.keys)
		b.keys = append(b.keys, key)
		p.copiesLatest = append(p.copiesLatest, l)
	}
	for i := range r.Series {
		if !p.touched[i] {
			continue
		}
		s := &r.Series[i]
		for k := s.SamplesStart; k < s.SamplesEnd; k++ {
			if v, rank, ok := p.plannedSample(r, k); ok && rank > 0 {
				add(i, rank, Latest{TimestampMs: r.Samples[k].TimestampMs, Value: math.Float64bits(v)})
			}
		}
		for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
			if hash, rank, ok := p.plannedHistogram(r, k); ok && rank > 0 {
				add(i, rank, Latest{TimestampMs: r.Histograms[k].TimestampMs, Value: hash, Histogram: true})
			}
		}
	}
	sr.arrange(b)
	for j := range b.keys {
		b.put[j], b.next[j] = true, p.copiesLatest[j]
	}
	sr.putBatch(b, now, false)
}

// forwardedLatest sets b's put and next to the latest sample of each
// identity that p forwards (see Accepted).
func forwardedLatest(r *Request, res *Result, p *Patch, b *recordBatch) {
	for bi, g := range b.group {
		var latest Latest
		found := false
		for i := g; i >= 0; i = res.next[i] {
			s := &r.Series[i]
			for k := s.SamplesStart; k < s.SamplesEnd; k++ {
				v, ok := p.forwardedSample(r, k)
				if !ok {
					continue
				}
				if ts := r.Samples[k].TimestampMs; !found || ts > latest.TimestampMs {
					latest = Latest{TimestampMs: ts, Value: math.Float64bits(v)}
					found = true
				}
			}
			for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
				hash, ok := p.forwardedHistogram(r, k)
				if !ok {
					continue
				}
				if ts := r.Histograms[k].TimestampMs; !found || ts > latest.TimestampMs {
					latest = Latest{TimestampMs: ts, Value: hash, Histogram: true}
					found = true
				}
			}
		}
		b.put[bi] = found
		if found {
			b.next[bi] = latest
		}
	}
}
