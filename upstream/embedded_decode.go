package upstream

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// checkEncoding refuses remote-write variants this upstream cannot decode
// and says whether the body is remote write 2.0.
func checkEncoding(h http.Header) (rw2 bool, status int, msg string) {
	if enc := h.Get("Content-Encoding"); enc != "" && enc != "snappy" {
		return false, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q: only snappy is accepted (err-pushguard-embedded-unsupported-encoding)", enc)
	}
	if ct := h.Get("Content-Type"); ct != "" {
		_, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return false, http.StatusUnsupportedMediaType, fmt.Sprintf("invalid Content-Type %q: %v (err-pushguard-embedded-unsupported-content-type)", ct, err)
		}
		switch p, ok := params["proto"]; {
		case !ok || p == RW1Message:
		case p == RW2Message:
			return true, http.StatusOK, ""
		default:
			return false, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported remote-write message %q: the embedded TSDB accepts %s and %s (err-pushguard-embedded-unsupported-content-type)", p, RW1Message, RW2Message)
		}
	}
	return false, http.StatusOK, ""
}

// decompress snappy-decodes body, checking the announced size first.
func decompress(body []byte) ([]byte, int, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("decoding snappy body: %v (err-pushguard-embedded-invalid-request)", err)
	}
	if n > maxDecodedBodySize {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("decompressed body of %d bytes exceeds the limit of %d bytes (err-pushguard-embedded-request-too-large)", n, maxDecodedBodySize)
	}
	buf, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("decoding snappy body: %v (err-pushguard-embedded-invalid-request)", err)
	}
	return buf, http.StatusOK, nil
}

func decodeWriteRequest(body []byte) (*prompb.WriteRequest, int, error) {
	buf, code, err := decompress(body)
	if err != nil {
		return nil, code, err
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(buf); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("decoding remote-write 1.0 request: %v (err-pushguard-embedded-invalid-request)", err)
	}
	return &wr, http.StatusOK, nil
}

func decodeWriteRequestV2(body []byte) (*writev2.Request, int, error) {
	buf, code, err := decompress(body)
	if err != nil {
		return nil, code, err
	}
	var req writev2.Request
	if err := req.Unmarshal(buf); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("decoding remote-write 2.0 request: %v (err-pushguard-embedded-invalid-request)", err)
	}
	return &req, http.StatusOK, nil
}

// appendWriteRequestV2 is appendWriteRequest for remote write 2.0: labels
// from the symbols, start timestamps passed on. The embedded TSDB keeps no
// exemplars or metadata.
func appendWriteRequestV2(ctx context.Context, db *tsdb.DB, req *writev2.Request) (res appendResult, err error) {
	app := db.AppenderV2(ctx)
	defer func() {
		if err = finishAppend(app, err); err != nil {
			res.appended, res.histograms = 0, 0
		}
	}()

	var b labels.ScratchBuilder
	for i, ts := range req.Timeseries {
		raw, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			res.reject(len(ts.Samples)+len(ts.Histograms), &sampleError{reason: reasonInvalidLabels, err: fmt.Errorf("timeseries %d: %w", i, err)})
			continue
		}
		ls, reason, lerr := normalizedLabels(&b, raw)
		if lerr != nil {
			res.reject(len(ts.Samples)+len(ts.Histograms), &sampleError{reason: reason, series: ls, err: lerr})
			continue
		}
		var ref storage.SeriesRef
		for _, s := range ts.Samples {
			if err := res.add(app, &ref, ls, s.StartTimestamp, s.Timestamp, s.Value, nil, nil); err != nil {
				return res, err
			}
		}
		for _, hp := range ts.Histograms {
			before := res.appended
			var err error
			if hp.IsFloatHistogram() {
				err = res.add(app, &ref, ls, hp.StartTimestamp, hp.Timestamp, 0, nil, hp.ToFloatHistogram())
			} else {
				err = res.add(app, &ref, ls, hp.StartTimestamp, hp.Timestamp, 0, hp.ToIntHistogram(), nil)
			}
			if err != nil {
				return res, err
			}
			res.histograms += res.appended - before
		}
	}
	return res, nil
}

// normalizedLabels applies seriesLabels' rules to labels already decoded.
func normalizedLabels(b *labels.ScratchBuilder, ls labels.Labels) (labels.Labels, string, error) {
	b.Reset()
	ls.Range(func(l labels.Label) {
		if l.Value != "" {
			b.Add(l.Name, l.Value)
		}
	})
	b.Sort()
	return validateSeriesLabels(b.Labels())
}

// setWrittenHeaders sets the remote write 2.0 written-count headers, which
// a 2.0 sender needs on every answer, as Prometheus' receiver sends them.
func setWrittenHeaders(h http.Header, res appendResult) {
	h.Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(res.appended-res.histograms))
	h.Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.Itoa(res.histograms))
	h.Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
}
