package validator

import (
	"bytes"
	"strings"
	"sync"
)

// Span is a byte range [Start, End) of Request.Buf. Labels and raw series
// are kept as spans so that decoding allocates nothing per label.
type Span struct {
	Start, End uint32
}

// Len returns the length of the span.
func (s Span) Len() int { return int(s.End - s.Start) }

// Label is one label pair of a series, as byte ranges of the request.
type Label struct {
	Name, Value Span
}

// Sample is a float sample.
type Sample struct {
	Value       float64
	TimestampMs int64
}

// Histogram is a native histogram sample. Raw is the encoded histogram
// message; it is decoded only when a duplicate must be compared.
type Histogram struct {
	TimestampMs int64
	Raw         Span
}

// Series is one TimeSeries entry of a write request. Its labels, samples and
// histograms are index ranges into the Request's flat slices.
type Series struct {
	// Raw is the encoded TimeSeries message, so an untouched series can be
	// copied to a patched request byte for byte.
	Raw Span
	// LabelsRaw spans the encoded label fields. When Canonical holds they
	// are contiguous, sorted by name, non-empty and canonically encoded,
	// so these bytes are the series identity as they are. For remote
	// write 2.0 it spans Request.Ident, where the decoder wrote them.
	LabelsRaw Span
	Canonical bool
	// RawHash is the XXH3 hash of the LabelsRaw bytes when Canonical
	// holds, taken by the decoder while they are in cache.
	RawHash                        uint64
	LabelsStart, LabelsEnd         int32
	SamplesStart, SamplesEnd       int32
	HistogramsStart, HistogramsEnd int32
	// Exemplars is the number of exemplars of the series.
	Exemplars int32
}

// Version is the remote-write protocol version of a request.
type Version uint8

// Remote-write versions.
const (
	RW1 Version = 1
	RW2 Version = 2
)

// Request is the series view of one decoded write request: every label is a
// span of Buf, every slice is reused across requests through a pool.
type Request struct {
	Version Version
	// Buf is the decompressed protobuf body.
	Buf        []byte
	Series     []Series
	Labels     []Label
	Samples    []Sample
	Histograms []Histogram
	// Symbols are the symbol table of a remote-write 2.0 request.
	Symbols []Span
	// Ident holds the canonical label bytes of remote-write 2.0 series,
	// written while decoding.
	Ident []byte
	// Exemplars is the number of exemplars of all series.
	Exemplars int
	// Source is the Mimir/Cortex WriteRequest source (0 API, 1 RULE, 2 OTLP).
	Source int32
	// HasMetadata says a remote-write 1.0 request carries metric metadata,
	// which goes upstream even when every sample is dropped.
	HasMetadata bool
	// RW1Fields says a remote-write 2.0 request carries a field of 1.0's
	// WriteRequest (timeseries or metadata), which 2.0 receivers skip and
	// Mimir refuses.
	RW1Fields bool

	limits decodeLimits
}

// Bytes returns the bytes of a span.
func (r *Request) Bytes(s Span) []byte { return r.Buf[s.Start:s.End] }

// String returns the bytes of a span as a new string.
func (r *Request) String(s Span) string { return string(r.Buf[s.Start:s.End]) }

// RawLabels returns the bytes LabelsRaw of series i spans.
func (r *Request) RawLabels(i int) []byte {
	s := &r.Series[i]
	if r.Version == RW2 {
		return r.Ident[s.LabelsRaw.Start:s.LabelsRaw.End]
	}
	return r.Buf[s.LabelsRaw.Start:s.LabelsRaw.End]
}

// SeriesLabels returns the labels of series i, in request order.
func (r *Request) SeriesLabels(i int) []Label {
	s := &r.Series[i]
	return r.Labels[s.LabelsStart:s.LabelsEnd]
}

// SeriesSamples returns the float samples of series i.
func (r *Request) SeriesSamples(i int) []Sample {
	s := &r.Series[i]
	return r.Samples[s.SamplesStart:s.SamplesEnd]
}

// SeriesHistograms returns the histogram samples of series i.
func (r *Request) SeriesHistograms(i int) []Histogram {
	s := &r.Series[i]
	return r.Histograms[s.HistogramsStart:s.HistogramsEnd]
}

var metricNameLabel = []byte("__name__")

// MetricName returns the __name__ of series i, or "" when it has none.
func (r *Request) MetricName(i int) []byte {
	for _, l := range r.SeriesLabels(i) {
		if bytes.Equal(r.Bytes(l.Name), metricNameLabel) {
			return r.Bytes(l.Value)
		}
	}
	return nil
}

// LabelMap returns the labels of series i as a map, empty values removed.
func (r *Request) LabelMap(i int) map[string]string {
	var spanArr [64]Span
	spans := spanArr[:0]
	for _, l := range r.SeriesLabels(i) {
		if l.Value.Len() > 0 {
			spans = append(spans, l.Name, l.Value)
		}
	}
	var strArr [64]string
	strs := r.sharedStrings(strArr[:0], spans)
	m := make(map[string]string, len(strs)/2)
	for k := 0; k < len(strs); k += 2 {
		m[strs[k]] = strs[k+1]
	}
	return m
}

// sharedStrings appends to dst the bytes of spans as strings that share
// one allocation, rather than one each: label maps are built a series at
// a time, and their strings live as long as each other.
func (r *Request) sharedStrings(dst []string, spans []Span) []string {
	n := 0
	for _, sp := range spans {
		n += sp.Len()
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, sp := range spans {
		sb.Write(r.Bytes(sp))
	}
	all := sb.String()
	for _, sp := range spans {
		dst = append(dst, all[:sp.Len()])
		all = all[sp.Len():]
	}
	return dst
}

// Reset empties the request, keeping its buffers.
func (r *Request) Reset() {
	r.Version = 0
	r.Buf = r.Buf[:0]
	r.resetView()
}

// resetView empties what decoding r.Buf fills in, keeping the buffers.
func (r *Request) resetView() {
	r.Series = r.Series[:0]
	r.Labels = r.Labels[:0]
	r.Samples = r.Samples[:0]
	r.Histograms = r.Histograms[:0]
	r.Symbols = r.Symbols[:0]
	r.Ident = r.Ident[:0]
	r.Exemplars = 0
	r.Source = 0
	r.HasMetadata = false
	r.RW1Fields = false
}

// maxPooledBufBytes caps the buffers kept in the pools, so that one huge
// request does not pin its memory for the life of the process; slices of
// other elements are capped at the same number of bytes, roughly.
const maxPooledBufBytes = 32 << 20

// maxPooledItems caps the length of pooled slices of per-series and
// per-sample elements (8 to 40 bytes each).
const maxPooledItems = maxPooledBufBytes / 16

var requestPool = sync.Pool{New: func() any { return &Request{} }}

// GetRequest returns an empty Request from the pool.
func GetRequest() *Request { return requestPool.Get().(*Request) }

// PutRequest returns r to the pool. r must not be used afterwards.
func PutRequest(r *Request) {
	if !r.poolable() {
		return
	}
	r.Reset()
	requestPool.Put(r)
}

// poolable reports whether r's buffers are small enough to keep for reuse.
func (r *Request) poolable() bool {
	return cap(r.Buf) <= maxPooledBufBytes && cap(r.Ident) <= maxPooledBufBytes && cap(r.Samples) <= maxPooledItems &&
		cap(r.Labels) <= maxPooledItems && cap(r.Series) <= maxPooledItems &&
		cap(r.Histograms) <= maxPooledItems && cap(r.Symbols) <= maxPooledItems
}
