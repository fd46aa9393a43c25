package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/pushguard/pushguard/validator"
)

// sampleError is a sample, or a whole series (timestamp nil), the TSDB refused.
type sampleError struct {
	reason    string
	series    labels.Labels
	timestamp *int64
	err       error
}

func (e *sampleError) Error() string {
	where := e.series.String()
	if e.timestamp != nil {
		where += ", timestamp " + time.UnixMilli(*e.timestamp).UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("series %s: %v (err-pushguard-embedded-%s)", where, e.err, e.reason)
}

func (e *sampleError) Unwrap() error { return e.err }

type appendResult struct {
	// appended counts float samples and histograms, histograms the latter.
	appended, histograms, rejectedTotal int
	rejected                            map[string]int // by reason
	first                               *sampleError
}

func (r *appendResult) reject(n int, se *sampleError) {
	if r.rejected == nil {
		r.rejected = map[string]int{}
	}
	r.rejected[se.reason] += n
	r.rejectedTotal += n
	if r.first == nil {
		r.first = se
	}
}

// record accounts for the outcome of one Append and hands err back when it
// is not something the sender caused.
func (r *appendResult) record(err error, ls labels.Labels, ts int64) error {
	if err == nil {
		r.appended++
		return nil
	}
	reason := appendErrorReason(err)
	if reason == "" {
		return err
	}
	r.reject(1, &sampleError{reason: reason, series: ls, timestamp: &ts, err: err})
	return nil
}

// add appends the sample of series ls at t (a float v, or the histogram h
// or fh) to app, starting from the series reference *ref and updating it,
// and accounts for the outcome as record does.
func (r *appendResult) add(app storage.AppenderV2, ref *storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram) error {
	err := checkZeroThreshold(h, fh)
	if err == nil {
		var got storage.SeriesRef
		if got, err = app.Append(*ref, ls, st, t, v, h, fh, storage.AOptions{}); err == nil {
			*ref = got
		}
	}
	return r.record(err, ls, t)
}

// errZeroThreshold refuses a native histogram whose zero threshold
// Prometheus' histogram arithmetic cannot take (validator.
// AddableZeroThreshold). The TSDB would store it, but PromQL's sum over it
// would never return, and the query API would spin on it forever.
var errZeroThreshold = errors.New("native histogram zero threshold is not a finite number >= 0")

func checkZeroThreshold(h *histogram.Histogram, fh *histogram.FloatHistogram) error {
	th := 0.0
	switch {
	case h != nil:
		th = h.ZeroThreshold
	case fh != nil:
		th = fh.ZeroThreshold
	}
	if !validator.AddableZeroThreshold(th) {
		return fmt.Errorf("%w: %v", errZeroThreshold, th)
	}
	return nil
}

// finishAppend commits app when err is nil and rolls it back otherwise,
// returning what the append is to return.
func finishAppend(app storage.AppenderV2, err error) error {
	if err != nil {
		_ = app.Rollback()
		return err
	}
	return app.Commit()
}

// appendWriteRequest appends wr with one appender and commits it. An error
// means an internal failure; the appender has then been rolled back.
func appendWriteRequest(ctx context.Context, db *tsdb.DB, wr *prompb.WriteRequest) (res appendResult, err error) {
	app := db.AppenderV2(ctx)
	defer func() {
		if err = finishAppend(app, err); err != nil {
			res.appended = 0
		}
	}()

	var b labels.ScratchBuilder
	for _, ts := range wr.Timeseries {
		ls, reason, lerr := seriesLabels(&b, ts.Labels)
		if lerr != nil {
			res.reject(len(ts.Samples)+len(ts.Histograms), &sampleError{reason: reason, series: ls, err: lerr})
			continue
		}
		var ref storage.SeriesRef
		for _, s := range ts.Samples {
			if err := res.add(app, &ref, ls, 0, s.Timestamp, s.Value, nil, nil); err != nil {
				return res, err
			}
		}
		for _, hp := range ts.Histograms {
			before := res.appended
			var err error
			if hp.IsFloatHistogram() {
				err = res.add(app, &ref, ls, 0, hp.Timestamp, 0, nil, hp.ToFloatHistogram())
			} else {
				err = res.add(app, &ref, ls, 0, hp.Timestamp, 0, hp.ToIntHistogram(), nil)
			}
			if err != nil {
				return res, err
			}
			res.histograms += res.appended - before
		}
	}
	return res, nil
}

// appendErrorReason maps the TSDB's per-sample errors to a reason, or to ""
// when the error is not the sample's fault.
func appendErrorReason(err error) string {
	var herr histogram.Error
	switch {
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return reasonDuplicateTimestamp
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return reasonOutOfOrder
	case errors.Is(err, storage.ErrOutOfBounds):
		return reasonOutOfBounds
	case errors.Is(err, storage.ErrTooOldSample):
		return reasonTooOld
	case errors.As(err, &herr), errors.Is(err, errZeroThreshold):
		return reasonInvalidHistogram
	case errors.Is(err, tsdb.ErrInvalidSample):
		return reasonInvalidLabels
	}
	return ""
}

// seriesLabels turns the wire labels into the series identity Mimir stores:
// empty values dropped, sorted by name, validated.
func seriesLabels(b *labels.ScratchBuilder, pl []prompb.Label) (labels.Labels, string, error) {
	b.Reset()
	for _, l := range pl {
		if l.Value != "" {
			b.Add(l.Name, l.Value)
		}
	}
	b.Sort()
	return validateSeriesLabels(b.Labels())
}

// validateSeriesLabels checks sorted labels as Mimir's distributor does.
func validateSeriesLabels(ls labels.Labels) (labels.Labels, string, error) {
	if !ls.Has(model.MetricNameLabel) {
		return ls, reasonMissingMetricName, errors.New("series has no metric name")
	}
	if name, dup := ls.HasDuplicateLabelNames(); dup {
		return ls, reasonInvalidLabels, fmt.Errorf("duplicate label name %q", name)
	}
	if !ls.IsValid(model.UTF8Validation) {
		return ls, reasonInvalidLabels, errors.New("invalid label name or value")
	}
	return ls, "", nil
}
