package validator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkValidatorPush is the validator's share of a push: check
// (decode, inspect, counts) and the report, with 0.1% duplicates. The
// cross-request record is off, as every push repeats the same samples. idle-timeout=0, the baseline, marks no
// tenant active; parallel pushes from every core show what marking costs
// under contention.
func BenchmarkValidatorPush(b *testing.B) {
	body := benchRequest(b, benchSeries, benchDupsDefault)
	for _, timeout := range []string{"0", "15m"} {
		v, _ := newTestValidator(b, "-validator.tenant-idle-timeout="+timeout, "-validator.cross-request.enabled=false")
		push := func(b *testing.B) {
			meta := Meta{Tenant: "team-a", Time: time.Now()}
			c, err := v.Check(meta, RW1, body)
			if err != nil {
				b.Fatal(err)
			}
			v.Record(c, meta)
			c.Release()
		}
		push(b)
		b.Run("idle-timeout="+timeout+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				push(b)
			}
		})
		b.Run("idle-timeout="+timeout+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					push(b)
				}
			})
		})
		require.Equal(b, timeout != "0", v.activity.active("team-a"))
	}
}
