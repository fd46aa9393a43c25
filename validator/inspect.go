package validator

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Kind says where a duplicate sample was found.
type Kind uint8

// Duplicate kinds.
const (
	// WithinSeries: one TimeSeries entry repeats a timestamp.
	WithinSeries Kind = iota + 1
	// AcrossSeries: two TimeSeries entries of one request have the same
	// identity and share a timestamp.
	AcrossSeries
	// AcrossRequests: the timestamp was already forwarded for the series in
	// a recent request.
	AcrossRequests
)

var kindNames = [...]string{WithinSeries: "within_series", AcrossSeries: "across_series", AcrossRequests: "across_requests"}

// String returns the kind's name as it appears in reports and metrics.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind parses a kind name.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// KindNames lists the kinds' names in order.
func KindNames() []string {
	return []string{WithinSeries.String(), AcrossSeries.String(), AcrossRequests.String()}
}

// CheckKindFilter refuses a report filter naming no kind; empty selects
// every kind.
func CheckKindFilter(name string) error {
	if _, ok := ParseKind(name); name != "" && !ok {
		return NewError(ErrIDBadQuery, CauseBadData, nil, "unknown kind %q, expected one of %s", name, strings.Join(KindNames(), ", "))
	}
	return nil
}

// SampleRef points at one float sample or histogram of a request.
type SampleRef struct {
	Series    int32
	Index     int32 // into Request.Samples, or Request.Histograms when Histogram
	Histogram bool
}

// Duplicate is one sample that repeats the (identity, timestamp) of an
// earlier sample of the request.
type Duplicate struct {
	Kind        Kind
	Conflicting bool
	TimestampMs int64
	// Sample is the repeating sample, First the first sample of its group.
	// For AcrossRequests, whose first sample went upstream in an earlier
	// request, First is Sample itself.
	Sample, First SampleRef
	// RecordedValue is, for AcrossRequests, the value forwarded earlier at
	// TimestampMs: float64 bits, or when RecordedHistogram the hash of the
	// histogram's encoding.
	RecordedValue     uint64
	RecordedHistogram bool
}

// Result holds what one inspection found, and the scratch space it used;
// reuse it across requests to avoid allocating.
type Result struct {
	Duplicates []Duplicate
	// Group[i] is the first series of the request with series i's identity.
	Group  []int32
	Hashes []uint64

	// heads is an open-addressing table of the request's identity hashes:
	// 1 + the first series with a hash, 0 in an empty slot.
	heads   []int32
	chain   []int32
	size    []int32
	members []int32
	entries []entry
	scratch Scratch
	multi   []int32
	next    []int32 // group chains, see groupChains
	tail    []int32
	chained bool // next and tail are built for this request
	batch   recordBatch
}

type entry struct {
	ts    int64
	order int32
	ref   SampleRef
}

// Reset empties the result, keeping its buffers.
func (res *Result) Reset() {
	res.Duplicates = res.Duplicates[:0]
	res.chained = false
	res.batch.reset()
}

// Counts returns the number of duplicate samples of each kind and conflict.
func (res *Result) Counts() (conflicting, identical int) {
	for _, d := range res.Duplicates {
		if d.Conflicting {
			conflicting++
		} else {
			identical++
		}
	}
	return
}

// Inspector finds duplicate-timestamp samples in a request.
type Inspector struct {
	id *Identity
}

// NewInspector returns an Inspector using the given series identity.
func NewInspector(id *Identity) *Inspector {
	return &Inspector{id: id}
}

// Identity returns the series identity the inspector uses.
func (in *Inspector) Identity() *Identity { return in.id }

// Inspect finds every sample of r that repeats an earlier sample's
// (identity, timestamp) within the request. Each such sample is reported
// once: conflicting when it differs from the first sample of its group.
func (in *Inspector) Inspect(r *Request, res *Result) {
	res.Reset()
	n := len(r.Series)
	res.Group = resize(res.Group, n)
	res.Hashes = resize(res.Hashes, n)
	res.chain = resize(res.chain, n)
	res.size = resize(res.size, n)
	mask := res.resetHeads(n)

	multi := false
	for i := range n {
		h := in.id.Hash(r, i, &res.scratch)
		res.Hashes[i] = h
		res.Group[i] = int32(i)
		res.size[i] = 1
		res.chain[i] = -1
		head := res.headOf(h, int32(i), mask)
		if head == int32(i) {
			continue
		}
		found := false
		for j := head; j >= 0; j = res.chain[j] {
			if in.id.Equal(r, i, int(j), &res.scratch) {
				g := res.Group[j]
				res.Group[i] = g
				res.size[g]++
				multi = true
				found = true
				break
			}
		}
		if !found {
			// A true hash collision: chain the new identity behind the head.
			res.chain[i] = res.chain[head]
			res.chain[head] = int32(i)
		}
	}

	// Series alone with their identity: only repeats inside the entry are
	// possible, and sorted timestamps (the normal case) rule them out.
	for i := range n {
		if res.size[res.Group[i]] > 1 {
			continue
		}
		s := &r.Series[i]
		if s.HistogramsEnd == s.HistogramsStart && strictlyIncreasing(r.Samples[s.SamplesStart:s.SamplesEnd]) {
			continue
		}
		if s.SamplesEnd == s.SamplesStart && strictlyIncreasingHist(r.Histograms[s.HistogramsStart:s.HistogramsEnd]) {
			continue
		}
		res.members = append(res.members[:0], int32(i))
		in.inspectGroup(r, res)
	}
	if !multi {
		return
	}

	// Series sharing an identity: inspect each group's samples together.
	res.members = res.members[:0]
	multiMembers := res.multi[:0]
	for i := range n {
		if res.size[res.Group[i]] > 1 {
			multiMembers = append(multiMembers, int32(i))
		}
	}
	slices.SortStableFunc(multiMembers, func(a, b int32) int { return cmp.Compare(res.Group[a], res.Group[b]) })
	for lo := 0; lo < len(multiMembers); {
		hi := lo + 1
		for hi < len(multiMembers) && res.Group[multiMembers[hi]] == res.Group[multiMembers[lo]] {
			hi++
		}
		res.members = append(res.members[:0], multiMembers[lo:hi]...)
		in.inspectGroup(r, res)
		lo = hi
	}
	res.multi = multiMembers[:0]
}

// resetHeads empties heads for a request of n series, at most half full,
// and returns the mask of its slot indexes.
func (res *Result) resetHeads(n int) int {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(res.heads) < size {
		res.heads = make([]int32, size)
	} else {
		res.heads = res.heads[:size]
		clear(res.heads)
	}
	return size - 1
}

// headOf returns the first series of the request whose identity hash is
// h, i if there was none yet: the series are entered in request order, and
// Hashes holds theirs.
func (res *Result) headOf(h uint64, i int32, mask int) int32 {
	for k := int(h) & mask; ; k = (k + 1) & mask {
		v := res.heads[k]
		if v == 0 {
			res.heads[k] = i + 1
			return i
		}
		if res.Hashes[v-1] == h {
			return v - 1
		}
	}
}

// inspectGroup finds the repeats among the samples of the series in
// res.members, which share one identity and are in request order.
func (in *Inspector) inspectGroup(r *Request, res *Result) {
	es := res.entries[:0]
	for _, si := range res.members {
		s := &r.Series[si]
		for k := s.SamplesStart; k < s.SamplesEnd; k++ {
			es = append(es, entry{ts: r.Samples[k].TimestampMs, order: int32(len(es)), ref: SampleRef{Series: si, Index: k}})
		}
		for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
			es = append(es, entry{ts: r.Histograms[k].TimestampMs, order: int32(len(es)), ref: SampleRef{Series: si, Index: k, Histogram: true}})
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	for lo := 0; lo < len(es); {
		hi := lo + 1
		for hi < len(es) && es[hi].ts == es[lo].ts {
			hi++
		}
		first := es[lo].ref
		for k := lo + 1; k < hi; k++ {
			kind := AcrossSeries
			for p := lo; p < k; p++ {
				if es[p].ref.Series == es[k].ref.Series {
					kind = WithinSeries
					break
				}
			}
			res.Duplicates = append(res.Duplicates, Duplicate{
				Kind:        kind,
				Conflicting: !sameValue(r, first, es[k].ref),
				TimestampMs: es[k].ts,
				Sample:      es[k].ref,
				First:       first,
			})
		}
		lo = hi
	}
	res.entries = es[:0]
}

// sameValue reports whether two samples carry the same value: float bits
// for floats (so NaNs compare by payload, as Prometheus' TSDB does), equal
// histograms for histograms. A float and a histogram always differ.
func sameValue(r *Request, a, b SampleRef) bool {
	switch {
	case !a.Histogram && !b.Histogram:
		return math.Float64bits(r.Samples[a.Index].Value) == math.Float64bits(r.Samples[b.Index].Value)
	case a.Histogram && b.Histogram:
		return histogramsEqual(r, r.Histograms[a.Index], r.Histograms[b.Index])
	default:
		return false
	}
}

func strictlyIncreasing(ss []Sample) bool {
	for k := 1; k < len(ss); k++ {
		if ss[k].TimestampMs <= ss[k-1].TimestampMs {
			return false
		}
	}
	return true
}

func strictlyIncreasingHist(hs []Histogram) bool {
	for k := 1; k < len(hs); k++ {
		if hs[k].TimestampMs <= hs[k-1].TimestampMs {
			return false
		}
	}
	return true
}

// resize returns s with length n, reusing its array when it is large
// enough; the elements it keeps are not cleared.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// resizeCleared is resize with every element zero.
func resizeCleared[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}
