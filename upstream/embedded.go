package upstream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana/dskit/services"
	"github.com/grafana/dskit/tenant"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	slgk "github.com/tjhop/slog-gokit"
)

// maxDecodedBodySize bounds the decompressed size of one push, as Mimir's
// default -distributor.max-recv-msg-size does, so a tiny snappy body cannot
// make us allocate gigabytes.
const maxDecodedBodySize = 100 << 20

// Stable reasons: they end up in error IDs (err-pushguard-embedded-<reason>)
// and in the reason label of the rejected samples metric, so never rename them.
const (
	reasonDuplicateTimestamp = "sample-duplicate-timestamp"
	reasonOutOfOrder         = "sample-out-of-order"
	reasonOutOfBounds        = "sample-out-of-bounds"
	reasonTooOld             = "sample-too-old"
	reasonInvalidHistogram   = "invalid-native-histogram"
	reasonMissingMetricName  = "missing-metric-name"
	reasonInvalidLabels      = "invalid-labels"
)

var errEmbeddedStopped = errors.New("embedded TSDB is stopped")

// ErrInvalidTenantID is matched (errors.Is) by the errors about tenant IDs
// the embedded TSDB refuses: they would not be valid directory names.
var ErrInvalidTenantID = errors.New("invalid tenant ID")

// EmbeddedConfig configures the embedded Prometheus TSDB used when no Mimir
// upstream is configured.
type EmbeddedConfig struct {
	// Dir holds one TSDB directory per tenant.
	Dir string `yaml:"dir"`
	// OutOfOrderTimeWindow is the TSDB's out-of-order window; 0 disables it.
	OutOfOrderTimeWindow time.Duration `yaml:"out_of_order_time_window"`
	// Retention is how long blocks are kept; 0 means Prometheus' default.
	Retention time.Duration `yaml:"retention"`
}

// RegisterFlags registers the embedded TSDB flags on f.
func (cfg *EmbeddedConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&cfg.Dir, "embedded.dir", "./data", "Directory where the embedded TSDB keeps one sub-directory per tenant.")
	f.DurationVar(&cfg.OutOfOrderTimeWindow, "embedded.out-of-order-time-window", 0, "How far back out-of-order samples are accepted by the embedded TSDB. 0 disables out-of-order ingestion, as Prometheus does by default.")
	f.DurationVar(&cfg.Retention, "embedded.retention", 24*time.Hour, "How long the embedded TSDB keeps samples. 0 means Prometheus' default of 15 days.")
}

// Validate reports a configuration the embedded TSDB cannot run with.
func (cfg *EmbeddedConfig) Validate() error {
	if cfg.Dir == "" {
		return errors.New("embedded TSDB directory must not be empty")
	}
	if cfg.OutOfOrderTimeWindow < 0 {
		return errors.New("embedded TSDB out-of-order time window must not be negative")
	}
	if cfg.Retention < 0 {
		return errors.New("embedded TSDB retention must not be negative")
	}
	return nil
}

// Embedded is an Upstream that appends pushes to in-process Prometheus TSDBs,
// one per tenant, opened lazily under <dir>/<tenant>.
type Embedded struct {
	services.Service

	cfg     EmbeddedConfig
	logger  log.Logger
	slogger *slog.Logger

	// pushMtx is held for reading by every push so that stopping waits for
	// in-flight appends before it closes the DBs under them.
	pushMtx sync.RWMutex

	mtx     sync.Mutex
	tenants map[string]*tenantDB
	stopped bool

	appendedSamples *prometheus.CounterVec
	rejectedSamples *prometheus.CounterVec
}

// tenantDB is a tenant's DB, ready once the ready channel is closed. Opening
// happens outside Embedded.mtx so a slow WAL replay blocks only its tenant.
type tenantDB struct {
	ready chan struct{}
	db    *tsdb.DB
	err   error
}

// NewEmbedded returns the embedded TSDB upstream. It must be started as a
// service before it accepts pushes.
func NewEmbedded(cfg EmbeddedConfig, logger log.Logger, reg prometheus.Registerer) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	e := &Embedded{
		cfg:     cfg,
		logger:  logger,
		slogger: slog.New(slgk.NewGoKitHandler(logger, nil)),
		tenants: map[string]*tenantDB{},
		appendedSamples: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Subsystem: "embedded",
			Name:      "appended_samples_total",
			Help:      "Float samples and native histograms appended to the embedded TSDB.",
		}, []string{"tenant"}),
		rejectedSamples: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Subsystem: "embedded",
			Name:      "rejected_samples_total",
			Help:      "Float samples and native histograms the embedded TSDB refused, by reason.",
		}, []string{"tenant", "reason"}),
	}
	e.Service = services.NewIdleService(e.starting, e.stopping)
	return e, nil
}

func (e *Embedded) starting(context.Context) error {
	if err := os.MkdirAll(e.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("creating embedded TSDB directory: %w", err)
	}
	return nil
}

func (e *Embedded) stopping(error) error {
	e.pushMtx.Lock()
	defer e.pushMtx.Unlock()

	e.mtx.Lock()
	e.stopped = true
	tenants := e.tenants
	e.tenants = map[string]*tenantDB{}
	e.mtx.Unlock()

	var errs []error
	for id, t := range tenants {
		<-t.ready
		if t.db == nil {
			continue
		}
		if err := t.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing embedded TSDB of tenant %q: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Name identifies this upstream in metrics and logs.
func (e *Embedded) Name() string { return "embedded" }

// Queryable returns the tenant's TSDB for PromQL, opening it if needed. A
// tenant that never pushed has nothing to read: a query does not create
// its TSDB, which anyone could otherwise do for any number of tenant IDs.
func (e *Embedded) Queryable(tenantID string) (storage.Queryable, error) {
	if err := validateTenant(tenantID); err != nil {
		return nil, err
	}
	e.mtx.Lock()
	_, open := e.tenants[tenantID]
	e.mtx.Unlock()
	if !open {
		if _, err := os.Stat(filepath.Join(e.cfg.Dir, tenantID)); errors.Is(err, fs.ErrNotExist) {
			return storage.QueryableFunc(func(int64, int64) (storage.Querier, error) { return storage.NoopQuerier(), nil }), nil
		}
	}
	return e.db(context.Background(), tenantID)
}

// validateTenant rejects tenant IDs Mimir would refuse and any that could
// escape the data directory, since the ID becomes a directory name.
func validateTenant(id string) error {
	if id == "" {
		return fmt.Errorf("%w: tenant ID is empty", ErrInvalidTenantID)
	}
	if err := tenant.ValidTenantID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTenantID, err)
	}
	if !filepath.IsLocal(id) || filepath.Base(id) != id {
		return fmt.Errorf("%w: %q is not a plain directory name", ErrInvalidTenantID, id)
	}
	return nil
}

func (e *Embedded) db(ctx context.Context, tenantID string) (*tsdb.DB, error) {
	e.mtx.Lock()
	if e.stopped {
		e.mtx.Unlock()
		return nil, errEmbeddedStopped
	}
	t, ok := e.tenants[tenantID]
	if !ok {
		t = &tenantDB{ready: make(chan struct{})}
		e.tenants[tenantID] = t
		e.mtx.Unlock()

		t.db, t.err = e.open(tenantID)
		if t.err != nil {
			// Forget the failure so that a later push can try again.
			e.mtx.Lock()
			if e.tenants[tenantID] == t {
				delete(e.tenants, tenantID)
			}
			e.mtx.Unlock()
		}
		close(t.ready)
	} else {
		e.mtx.Unlock()
	}

	select {
	case <-t.ready:
		return t.db, t.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Embedded) open(tenantID string) (*tsdb.DB, error) {
	opts := tsdb.DefaultOptions()
	if e.cfg.Retention > 0 {
		opts.RetentionDuration = e.cfg.Retention.Milliseconds()
	}
	opts.OutOfOrderTimeWindow = e.cfg.OutOfOrderTimeWindow.Milliseconds()

	dir := filepath.Join(e.cfg.Dir, tenantID)
	// A nil registerer: the TSDB metrics of several tenants would collide.
	db, err := tsdb.Open(dir, e.slogger.With("tenant", tenantID), nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening embedded TSDB of tenant %q in %s: %w", tenantID, dir, err)
	}
	level.Info(e.logger).Log("msg", "opened embedded TSDB", "tenant", tenantID, "dir", dir)
	return db, nil
}

// Push appends the request's samples with one appender, Mimir-style: a
// sample the TSDB refuses does not stop the others, which are committed; the
// answer is then 400 naming the first refused sample. Like Prometheus, a
// conflicting duplicate inside one push is dropped silently at commit (first
// value wins); only conflicts with already committed samples are reported.
func (e *Embedded) Push(ctx context.Context, req *Request) (*Response, error) {
	if s := e.State(); s != services.Running {
		return nil, fmt.Errorf("embedded TSDB is not running (state %s)", s)
	}
	if err := validateTenant(req.Tenant); err != nil {
		return textResponse(http.StatusBadRequest, fmt.Sprintf("%v (err-pushguard-embedded-invalid-tenant)", err)), nil
	}
	rw2, status, msg := checkEncoding(req.Header)
	if status != http.StatusOK {
		return textResponse(status, msg), nil
	}
	var (
		wr   *prompb.WriteRequest
		wrV2 *writev2.Request
		err  error
	)
	if rw2 {
		wrV2, status, err = decodeWriteRequestV2(req.SnappyBody())
	} else {
		wr, status, err = decodeWriteRequest(req.SnappyBody())
	}
	if err != nil {
		return textResponse(status, err.Error()), nil
	}

	e.pushMtx.RLock()
	defer e.pushMtx.RUnlock()

	db, err := e.db(ctx, req.Tenant)
	if err != nil {
		return nil, err
	}
	var res appendResult
	if rw2 {
		res, err = appendWriteRequestV2(ctx, db, wrV2)
	} else {
		res, err = appendWriteRequest(ctx, db, wr)
	}
	for reason, n := range res.rejected {
		e.rejectedSamples.WithLabelValues(req.Tenant, reason).Add(float64(n))
	}
	if err != nil {
		return nil, fmt.Errorf("appending to embedded TSDB of tenant %q: %w", req.Tenant, err)
	}
	e.appendedSamples.WithLabelValues(req.Tenant).Add(float64(res.appended))

	var resp *Response
	if res.first == nil {
		resp = &Response{StatusCode: http.StatusOK, Header: http.Header{}}
	} else {
		// One line per push, not per sample: a bad sender repeats the same error.
		level.Warn(e.logger).Log("msg", "embedded TSDB rejected samples", "tenant", req.Tenant, "appended", res.appended, "rejected", res.rejectedTotal, "first_err", res.first)
		// Bad request so that the sender does not retry samples that will never fit.
		resp = textResponse(http.StatusBadRequest, "failed pushing to embedded TSDB: "+res.first.Error())
	}
	if rw2 {
		setWrittenHeaders(resp.Header, res)
	}
	return resp, nil
}

func textResponse(status int, msg string) *Response {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	return &Response{StatusCode: status, Header: h, Body: []byte(msg + "\n")}
}
