package report

import "time"

// HistoryMinutes is how far back an offender's per-minute history goes.
const HistoryMinutes = 60

// History counts an offender's duplicate samples per minute over the last
// hour, in a fixed ring so that its size never depends on traffic.
type History struct {
	counts [HistoryMinutes]uint32
	// last is the Unix minute of the newest bucket; 0 means empty.
	last int64
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// minuteSlot is minute m's bucket, also for times before 1970.
func minuteSlot(m int64) int64 { return ((m % HistoryMinutes) + HistoryMinutes) % HistoryMinutes }

// Add counts n duplicate samples seen at t. Samples older than the window
// are ignored; counts saturate rather than wrap.
func (h *History) Add(t time.Time, n int64) {
	if n <= 0 {
		return
	}
	m := unixMinute(t)
	h.advance(m)
	if m <= h.last-HistoryMinutes {
		return
	}
	i := minuteSlot(m)
	if sum := int64(h.counts[i]) + n; sum > int64(^uint32(0)) {
		h.counts[i] = ^uint32(0)
	} else {
		h.counts[i] = uint32(sum)
	}
}

// advance moves the window so that its newest bucket is minute m, zeroing
// the buckets that fall out of it.
func (h *History) advance(m int64) {
	if m <= h.last {
		return
	}
	if h.last == 0 || m-h.last >= HistoryMinutes {
		h.counts = [HistoryMinutes]uint32{}
	} else {
		for k := h.last + 1; k <= m; k++ {
			h.counts[minuteSlot(k)] = 0
		}
	}
	h.last = m
}

// PerMinute returns the counts of the HistoryMinutes minutes up to and
// including the minute of now, oldest first.
func (h *History) PerMinute(now time.Time) []uint32 {
	out := make([]uint32, HistoryMinutes)
	end := unixMinute(now)
	for k := range HistoryMinutes {
		m := end - HistoryMinutes + 1 + int64(k)
		if h.last != 0 && m <= h.last && m > h.last-HistoryMinutes {
			out[k] = h.counts[minuteSlot(m)]
		}
	}
	return out
}
