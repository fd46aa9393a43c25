package validator

import (
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
)

// steadyBodies returns n compressed 500-series pushes of the same series,
// a scrape apart, with 0.1% duplicates.
func steadyBodies(t *testing.T, n int) [][]byte {
	wr := unmarshal(t, benchRequest(t, 500, 1))
	bodies := make([][]byte, n)
	for k := range bodies {
		for i := range wr.Timeseries {
			for j := range wr.Timeseries[i].Samples {
				wr.Timeseries[i].Samples[j].Timestamp = benchScrapeMs + int64(k)*15_000
			}
		}
		raw, err := wr.Marshal()
		require.NoError(t, err)
		bodies[k] = snappy.Encode(nil, raw)
	}
	return bodies
}

// TestSteadyStateHeapDoesNotGrow pushes the same series again and again,
// as scrapes do, through inspection, patching, the report and the record:
// once warm, the heap must not grow with the number of pushes.
func TestSteadyStateHeapDoesNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes thousands of requests")
	}
	for _, action := range []string{"report", "keep-first"} {
		t.Run(action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+action)
			bodies := steadyBodies(t, 40)
			pushed := 0
			push := func(n int) {
				for range n {
					body := bodies[pushed%len(bodies)]
					meta := Meta{Tenant: "team-a", Time: t0.Add(time.Duration(pushed) * 15 * time.Second)}
					c, err := v.Check(meta, RW1, body)
					require.NoError(t, err)
					require.NotEmpty(t, c.Body(body))
					v.Settle(c, meta, 200)
					c.Release()
					pushed++
				}
			}
			var heap []uint64
			for range 4 {
				push(500)
				heap = append(heap, heapInUse())
			}
			t.Logf("heap after every 500 pushes: %d bytes", heap)
			// The first 500 pushes warm the pools, the record and the report.
			before, after := heap[1], heap[3]
			// A leak of a few hundred bytes a push would show: 1,500 pushes
			// of 500 series.
			require.Less(t, int64(after)-int64(before), int64(512<<10))
			require.Positive(t, v.Store().Stats().Offenders, "the pushes made no offenders: the test checks nothing of the report")
		})
	}
}

// TestHugeBuffersAreNotPooled checks that the working space of one huge
// request is left to the garbage collector rather than kept in a pool. A
// sync.Pool hands back, on the same goroutine, what was just put in it:
// without the race detector (which drops pooled items at random) the
// control cases show that a pooled object would be seen again.
func TestHugeBuffersAreNotPooled(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=keep-first")
	check := func() *Checked {
		c, err := v.Check(Meta{Tenant: "a", Time: t0}, RW1, benchRequest(t, 200, 1))
		require.NoError(t, err)
		require.True(t, c.Request.poolable())
		require.True(t, c.poolable())
		return c
	}

	c := check()
	c.Patch.proto = make([]byte, 0, maxPooledBufBytes+1)
	require.False(t, c.poolable())
	c.Patch.proto = nil
	c.Patch.fresh = make([]byte, 0, maxPooledBufBytes+1)
	require.False(t, c.poolable())
	c.Patch.fresh = nil
	c.Result.heads = make([]int32, 0, 4*maxPooledItems+1)
	require.False(t, c.poolable())
	c.Result.heads = nil
	c.counts.attr.index = map[string]int{}
	for i := range maxPooledGroups + 1 {
		c.counts.attr.index[strconv.Itoa(i)] = i
	}
	require.False(t, c.poolable())
	c.counts.attr.index = nil
	c.Result.Group = make([]int32, 0, maxPooledItems+1)
	require.False(t, c.poolable())
	c.Request.Labels = make([]Label, 0, maxPooledItems+1)
	require.False(t, c.Request.poolable())
	r := c.Request
	c.Release()
	require.NotSame(t, c, checkedPool.Get().(*Checked), "a huge Checked went back to the pool")
	require.NotSame(t, r, GetRequest(), "a huge Request went back to the pool")

	r = GetRequest()
	r.Buf = make([]byte, 0, maxPooledBufBytes+1)
	require.False(t, r.poolable())
	PutRequest(r)
	require.NotSame(t, r, GetRequest(), "a huge body buffer went back to the pool")

	r = GetRequest()
	r.Ident = make([]byte, 0, maxPooledBufBytes+1)
	require.False(t, r.poolable())
	PutRequest(r)
	require.NotSame(t, r, GetRequest(), "a huge identity buffer went back to the pool")

	if !raceEnabled {
		c = check()
		r = c.Request
		c.Release()
		require.Same(t, c, checkedPool.Get().(*Checked), "control: a Checked of normal size is pooled")
		require.Same(t, r, GetRequest(), "control: a Request of normal size is pooled")
	}
}
