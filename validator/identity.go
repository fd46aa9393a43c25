package validator

import (
	"bytes"
	"slices"

	"github.com/zeebo/xxh3"
	"google.golang.org/protobuf/encoding/protowire"
)

// Identity computes series identities: the label set sorted by name, labels
// with an empty value removed, minus the labels the upstream drops.
//
// An identity is represented by its canonical encoding: the label fields of
// a remote-write 1.0 TimeSeries as gogo and Prometheus write them. Most
// series arrive encoded that way, so their raw label bytes are hashed and
// compared as they are; the others have the canonical form built in a
// scratch buffer. Both paths give the same bytes for the same identity.
type Identity struct {
	ignore [][]byte
	// collide clears hash bits, so that tests can make distinct identities
	// share hashes; zero outside tests.
	collide uint64
}

// Scratch is the reusable working space of identity computations; it is
// not safe for concurrent use.
type Scratch struct {
	idx    []int32
	labels []Label
	a, b   []byte
}

// NewIdentity returns an Identity that leaves out the given label names.
func NewIdentity(ignoreLabels []string) *Identity {
	id := &Identity{}
	for _, l := range ignoreLabels {
		if l != "" {
			id.ignore = append(id.ignore, []byte(l))
		}
	}
	return id
}

func (id *Identity) ignored(name []byte) bool {
	for _, ig := range id.ignore {
		if bytes.Equal(ig, name) {
			return true
		}
	}
	return false
}

// rawIsIdentity reports whether the raw label bytes of series i are its
// canonical identity as they are.
func (id *Identity) rawIsIdentity(r *Request, i int) bool {
	s := &r.Series[i]
	return s.Canonical && (len(id.ignore) == 0 || !id.hasIgnored(r, s))
}

// hasIgnored reports whether s has a label left out of identities.
func (id *Identity) hasIgnored(r *Request, s *Series) bool {
	for _, l := range r.Labels[s.LabelsStart:s.LabelsEnd] {
		if id.ignored(r.Bytes(l.Name)) {
			return true
		}
	}
	return false
}

// canonical returns the canonical identity bytes of series i: its raw
// bytes as they are, never kept, or those build writes.
func (id *Identity) canonical(r *Request, i int, sc *Scratch, buf *[]byte) []byte {
	if id.rawIsIdentity(r, i) {
		return r.RawLabels(i)
	}
	return id.build(r, i, sc, buf)
}

// build writes the canonical identity bytes of series i, whose raw bytes
// are not, into *buf, which it grows and keeps for reuse.
func (id *Identity) build(r *Request, i int, sc *Scratch, buf *[]byte) []byte {
	if len(id.ignore) == 0 {
		// Labels nearly always arrive sorted and non-empty: no need to
		// normalize them first.
		s := &r.Series[i]
		if dst, ok := appendShortLabels((*buf)[:0], r.Buf, r.Labels[s.LabelsStart:s.LabelsEnd], true); ok {
			*buf = dst
			return dst
		}
	}
	sc.idx = id.normalized(r, i, sc.idx[:0])
	sc.labels = sc.labels[:0]
	for _, k := range sc.idx {
		sc.labels = append(sc.labels, r.Labels[k])
	}
	if dst, ok := appendShortLabels((*buf)[:0], r.Buf, sc.labels, false); ok {
		*buf = dst
		return dst
	}
	dst := (*buf)[:0]
	for _, k := range sc.idx {
		dst = appendIdentityLabel(dst, r.Bytes(r.Labels[k].Name), r.Bytes(r.Labels[k].Value))
	}
	*buf = dst
	return dst
}

// appendIdentityLabel appends one label in the canonical encoding.
func appendIdentityLabel(dst, name, value []byte) []byte {
	msgLen := 1 + protowire.SizeBytes(len(name)) + 1 + protowire.SizeBytes(len(value))
	dst = protowire.AppendTag(dst, rw1SeriesLabels, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(msgLen))
	dst = protowire.AppendTag(dst, labelName, protowire.BytesType)
	dst = protowire.AppendBytes(dst, name)
	dst = protowire.AppendTag(dst, labelValue, protowire.BytesType)
	return protowire.AppendBytes(dst, value)
}

// HashWith returns the identity hash of series i with label name set to
// value (replacing the series' own), as Hash returns it for a series that
// arrives with that label: the identity of a copy the label action makes.
func (id *Identity) HashWith(r *Request, i int, name, value []byte, sc *Scratch) uint64 {
	add := len(value) > 0 && !id.ignored(name)
	sc.idx = id.normalized(r, i, sc.idx[:0])
	dst := sc.a[:0]
	for _, k := range sc.idx {
		n := r.Bytes(r.Labels[k].Name)
		if bytes.Equal(n, name) {
			continue
		}
		if add && nameLess(name, n) {
			dst = appendIdentityLabel(dst, name, value)
			add = false
		}
		dst = appendIdentityLabel(dst, n, r.Bytes(r.Labels[k].Value))
	}
	if add {
		dst = appendIdentityLabel(dst, name, value)
	}
	sc.a = dst
	return xxh3.Hash(dst) &^ id.collide
}

// appendShortLabels appends the canonical encoding of labels, spans of b,
// when every length in it fits in one byte, as for nearly every series:
// written in one pass into room for the longest such labels. With check
// it also requires what normalizing would otherwise ensure: names in
// order, each once, and no empty value. It reports false, appending
// nothing, when these do not hold.
func appendShortLabels(dst, b []byte, labels []Label, check bool) ([]byte, bool) {
	start := len(dst)
	dst = slices.Grow(dst, len(labels)*(2+4+2*0x7f))
	out := dst[start:cap(dst)]
	off, prev := 0, -1 // where the previous name starts in out
	for _, l := range labels {
		name, value := b[l.Name.Start:l.Name.End], b[l.Value.Start:l.Value.End]
		msgLen := 4 + len(name) + len(value)
		if msgLen >= 0x80 || (check && len(value) == 0) ||
			(check && prev >= 0 && !nameLess(out[prev:prev+int(out[prev-1])], name)) {
			return dst[:start], false
		}
		prev = off + 4
		out[off] = 0x0a
		out[off+1] = byte(msgLen)
		out[off+2] = 0x0a
		out[off+3] = byte(len(name))
		off += 4 + copyShort(out, off+4, name)
		out[off] = 0x12
		out[off+1] = byte(len(value))
		off += 2 + copyShort(out, off+2, value)
	}
	return dst[:start+off], true
}

// Hash returns the identity hash of series i. XXH3 hashes identities of
// a few hundred bytes in half the time XXH64 does; the hash never leaves
// the process.
func (id *Identity) Hash(r *Request, i int, sc *Scratch) uint64 {
	if id.rawIsIdentity(r, i) {
		return r.Series[i].RawHash &^ id.collide
	}
	return xxh3.Hash(id.build(r, i, sc, &sc.a)) &^ id.collide
}

// normalized appends to dst the indexes (into r.Labels) of the identity
// labels of series i, sorted by name.
func (id *Identity) normalized(r *Request, i int, dst []int32) []int32 {
	s := &r.Series[i]
	start := len(dst)
	sorted := true
	var prev []byte
	for k := s.LabelsStart; k < s.LabelsEnd; k++ {
		l := r.Labels[k]
		if l.Value.Len() == 0 || (len(id.ignore) > 0 && id.ignored(r.Bytes(l.Name))) {
			continue
		}
		name := r.Bytes(l.Name)
		sorted = sorted && (prev == nil || nameLess(prev, name))
		prev = name
		dst = append(dst, k)
	}
	if sorted {
		// Senders sort labels: nearly always already in order.
		return dst
	}
	slices.SortStableFunc(dst[start:], func(a, b int32) int {
		return bytes.Compare(r.Bytes(r.Labels[a].Name), r.Bytes(r.Labels[b].Name))
	})
	return dst
}

// Equal reports whether series i and j have the same identity. It is the
// exact check behind a hash match.
func (id *Identity) Equal(r *Request, i, j int, sc *Scratch) bool {
	return bytes.Equal(id.canonical(r, i, sc, &sc.a), id.canonical(r, j, sc, &sc.b))
}

// copyShort copies s to out[at:] and returns its length. Label names and
// values are short: up to 16 bytes it moves one 16-byte block when both
// have room for it (s within its capacity), rather than calling memmove;
// the bytes it writes past s are overwritten by what is appended next, or
// lie past the result.
func copyShort(out []byte, at int, s []byte) int {
	if len(s) <= 16 && cap(s) >= 16 && at+16 <= len(out) {
		*(*[16]byte)(out[at:]) = *(*[16]byte)(s[:16])
		return len(s)
	}
	return copy(out[at:], s)
}
