package validator

import (
	"bytes"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// labelSep separates names and values in the identity hash. It cannot occur
// in valid UTF-8, so "a"+"bc" and "ab"+"c" hash apart.
var labelSep = []byte{0xff}

// Identity computes series identities: the label set sorted by name, labels
// with an empty value removed, minus the labels the upstream drops.
type Identity struct {
	ignore [][]byte
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

// Hash returns the identity hash of series i. scratch is reused between
// calls to avoid allocating when labels arrive unsorted.
func (id *Identity) Hash(r *Request, i int, scratch *[]int32) uint64 {
	s := &r.Series[i]
	ls := r.Labels[s.LabelsStart:s.LabelsEnd]
	// Senders almost always sort labels; check that on the way and only
	// fall back to sorting when they did not.
	var d xxhash.Digest
	d.Reset()
	var prev []byte
	for k := range ls {
		name := r.Bytes(ls[k].Name)
		if k > 0 && bytes.Compare(name, prev) <= 0 {
			return id.hashSorted(r, i, scratch)
		}
		prev = name
		if ls[k].Value.Len() == 0 || (len(id.ignore) > 0 && id.ignored(name)) {
			continue
		}
		_, _ = d.Write(name)
		_, _ = d.Write(labelSep)
		_, _ = d.Write(r.Bytes(ls[k].Value))
		_, _ = d.Write(labelSep)
	}
	return d.Sum64()
}

func (id *Identity) hashSorted(r *Request, i int, scratch *[]int32) uint64 {
	idx := id.normalized(r, i, (*scratch)[:0])
	*scratch = idx
	var d xxhash.Digest
	d.Reset()
	for _, k := range idx {
		l := r.Labels[k]
		_, _ = d.Write(r.Bytes(l.Name))
		_, _ = d.Write(labelSep)
		_, _ = d.Write(r.Bytes(l.Value))
		_, _ = d.Write(labelSep)
	}
	return d.Sum64()
}

// normalized appends to dst the indexes (into r.Labels) of the identity
// labels of series i, sorted by name.
func (id *Identity) normalized(r *Request, i int, dst []int32) []int32 {
	s := &r.Series[i]
	for k := s.LabelsStart; k < s.LabelsEnd; k++ {
		l := r.Labels[k]
		if l.Value.Len() == 0 || (len(id.ignore) > 0 && id.ignored(r.Bytes(l.Name))) {
			continue
		}
		dst = append(dst, k)
	}
	slices.SortStableFunc(dst, func(a, b int32) int {
		return bytes.Compare(r.Bytes(r.Labels[a].Name), r.Bytes(r.Labels[b].Name))
	})
	return dst
}

// Equal reports whether series i and j have the same identity. It is the
// exact check behind a hash match.
func (id *Identity) Equal(r *Request, i, j int, sa, sb *[]int32) bool {
	a := id.normalized(r, i, (*sa)[:0])
	b := id.normalized(r, j, (*sb)[:0])
	*sa, *sb = a, b
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		la, lb := r.Labels[a[k]], r.Labels[b[k]]
		if !bytes.Equal(r.Bytes(la.Name), r.Bytes(lb.Name)) || !bytes.Equal(r.Bytes(la.Value), r.Bytes(lb.Value)) {
			return false
		}
	}
	return true
}
