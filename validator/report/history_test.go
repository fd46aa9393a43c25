package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistory(t *testing.T) {
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return start.Add(time.Duration(min) * time.Minute) }
	for name, tc := range map[string]struct {
		adds []struct {
			min int
			n   int64
		}
		now  int
		want map[int]uint32 // index into PerMinute (59 = now) -> count
	}{
		"empty": {now: 0, want: map[int]uint32{}},
		"same minute adds up": {
			adds: []struct {
				min int
				n   int64
			}{{0, 2}, {0, 3}},
			now: 0, want: map[int]uint32{59: 5},
		},
		"minutes line up with now": {
			adds: []struct {
				min int
				n   int64
			}{{0, 1}, {10, 2}, {59, 3}},
			now: 59, want: map[int]uint32{0: 1, 10: 2, 59: 3},
		},
		"an hour later the oldest minute is gone": {
			adds: []struct {
				min int
				n   int64
			}{{0, 1}, {30, 2}},
			now: 60, want: map[int]uint32{29: 2},
		},
		"late sample inside the window counts, outside is ignored": {
			adds: []struct {
				min int
				n   int64
			}{{100, 1}, {95, 4}, {20, 9}},
			now: 100, want: map[int]uint32{59: 1, 54: 4},
		},
		"a gap over an hour clears everything": {
			adds: []struct {
				min int
				n   int64
			}{{0, 7}, {200, 1}},
			now: 200, want: map[int]uint32{59: 1},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var h History
			for _, a := range tc.adds {
				h.Add(at(a.min), a.n)
			}
			got := h.PerMinute(at(tc.now))
			require.Len(t, got, HistoryMinutes)
			for i, c := range got {
				require.Equal(t, tc.want[i], c, "minute %d", i)
			}
		})
	}
}
