// Package validator is pushguard's domain: decoding remote-write requests
// into a series view, series identity, duplicate detection, the actions that
// patch requests and the offenders they make, which it keeps in a
// report.Store. It knows nothing of HTTP or gRPC.
package validator

import (
	"cmp"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pushguard/pushguard/validator/report"
)

// DefaultOriginLabels are the labels that tell an operator where a
// duplicate comes from.
var DefaultOriginLabels = []string{"job", "instance", "namespace", "pod", "container", "cluster", "__replica__"}

// Config configures inspection, actions and the report.
type Config struct {
	Action                    string             `yaml:"action"`
	Rules                     []RuleConfig       `yaml:"rules"`
	DisambiguationLabel       string             `yaml:"disambiguation_label"`
	DisambiguationMaxLabels   int                `yaml:"disambiguation_max_label_names"`
	IgnoreLabels              LabelNames         `yaml:"ignore_labels"`
	OriginLabels              LabelNames         `yaml:"origin_labels"`
	MaxOffendersPerTenant     int                `yaml:"max_offenders_per_tenant"`
	MaxOffenders              int                `yaml:"max_offenders"`
	MaxRequestBytes           int                `yaml:"max_request_bytes"`
	CrossRequest              CrossRequestConfig `yaml:"cross_request"`
	AttributionLabels         LabelNames         `yaml:"attribution_labels"`
	MaxAttributionCardinality int                `yaml:"max_attribution_cardinality"`
	WarnLogRate               float64            `yaml:"warn_log_rate"`
	TenantIdleTimeout         time.Duration      `yaml:"tenant_idle_timeout"`
	Limits                    Limits             `yaml:",inline"`
	// DebugLog turns on per-sample duplicate logging; set from -log.level.
	DebugLog bool `yaml:"-"`
}

// DefaultAttributionLabels are the labels duplicate samples are counted by.
var DefaultAttributionLabels = []string{"job", "namespace"}

// RegisterFlags registers the validator flags.
func (cfg *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&cfg.Action, "validator.action", string(ActionReport), "What to do with duplicate samples no rule matches: report, keep-first, keep-last, keep-max, keep-min, sum, label or reject. Rules, in YAML only, choose per series selector and kind.")
	f.StringVar(&cfg.DisambiguationLabel, "validator.disambiguation-label", DefaultDisambiguationLabel, "Label the label action adds to the second, third, ... colliding series, with value 1, 2, ... Empty means duplicate_index.")
	f.IntVar(&cfg.DisambiguationMaxLabels, "validator.disambiguation-max-label-names", 30, "Most labels a series may have upstream (Mimir's -validator.max-label-names-per-series, __name__ included; the lowest of the tenants that use the label action). Labels with an empty value and -validator.ignore-labels are not counted, as the upstream removes them first. A duplicate group the label action would take past it is kept as keep-first keeps it, since the upstream would refuse the labelled series and the push with it. 0 means no limit.")
	f.Var(&cfg.IgnoreLabels, "validator.ignore-labels", "Comma-separated label names left out of series identity, mirroring labels the upstream drops (Mimir's drop_labels, the HA tracker's __replica__).")
	cfg.OriginLabels = append(LabelNames(nil), DefaultOriginLabels...)
	f.Var(&cfg.OriginLabels, "validator.origin-labels", "Comma-separated label names that identify where a duplicate comes from; reports group offenders by their values.")
	f.IntVar(&cfg.MaxOffendersPerTenant, "validator.max-offenders-per-tenant", 1000, "Maximum offenders kept in the report per tenant; the least recently seen are evicted first.")
	f.IntVar(&cfg.MaxOffenders, "validator.max-offenders", 10000, "Maximum offenders kept in the report across all tenants; the least recently seen are evicted first. Bounds the report's memory (a few KiB an offender). 0 means only the per-tenant bound applies.")
	cfg.AttributionLabels = append(LabelNames(nil), DefaultAttributionLabels...)
	f.Var(&cfg.AttributionLabels, "validator.attribution-labels", "Comma-separated labels of the offending series that pushguard_attributed_duplicate_samples_total counts duplicates by. Empty disables the metric.")
	f.IntVar(&cfg.MaxAttributionCardinality, "validator.max-attribution-cardinality", 100, "Maximum attribution label value combinations per tenant; further combinations are counted with every attribution label set to __overflow__.")
	f.Float64Var(&cfg.WarnLogRate, "validator.warn-log-rate", 1, "Aggregated duplicate-sample warnings (one per push and kind) logged per second at most, and as many warnings of pushes pushguard refuses; the others are counted in pushguard_duplicate_warnings_suppressed_total and pushguard_refused_push_warnings_suppressed_total. 0 logs none.")
	f.IntVar(&cfg.MaxRequestBytes, "validator.max-request-bytes", 100<<20, "Maximum size of a push body, compressed and decompressed, in bytes. Larger pushes are refused with 413.")
	f.DurationVar(&cfg.TenantIdleTimeout, "validator.tenant-idle-timeout", 15*time.Minute, "How long after a tenant's last push its per-tenant metric series (pushguard_received_samples_total and the others with a tenant label), its attribution label values and its report's eviction count are kept. Any X-Scope-OrgID is accepted, and without this every tenant ever seen would keep them until restart. The report's offenders are bounded by -validator.max-offenders instead; with that at 0, an idle tenant's report goes too. 0 keeps everything until restart.")
	cfg.CrossRequest.RegisterFlags(f)
	cfg.Limits.RegisterFlags(f)
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	if _, err := defaultTenantConfig(*cfg); err != nil {
		return err
	}
	// Empty means the default, for configurations built in code.
	if cfg.DisambiguationLabel != "" && !labelNameRE.MatchString(cfg.DisambiguationLabel) {
		return fmt.Errorf("invalid -validator.disambiguation-label %q: not a label name", cfg.DisambiguationLabel)
	}
	if cfg.DisambiguationMaxLabels < 0 {
		return fmt.Errorf("-validator.disambiguation-max-label-names must not be negative")
	}
	if name := cmp.Or(cfg.DisambiguationLabel, DefaultDisambiguationLabel); slices.Contains(cfg.IgnoreLabels, name) {
		return fmt.Errorf("-validator.disambiguation-label %q is in -validator.ignore-labels: the series the label action separates would be one series again", name)
	}
	if err := ValidateAttributionLabels(cfg.AttributionLabels); err != nil {
		return fmt.Errorf("invalid -validator.attribution-labels: %w", err)
	}
	if cfg.MaxAttributionCardinality < 1 && len(cfg.AttributionLabels) > 0 {
		return fmt.Errorf("-validator.max-attribution-cardinality must be at least 1")
	}
	if cfg.WarnLogRate < 0 {
		return fmt.Errorf("-validator.warn-log-rate must not be negative")
	}
	if cfg.MaxOffendersPerTenant < 1 {
		return fmt.Errorf("-validator.max-offenders-per-tenant must be at least 1: the report would keep nothing")
	}
	if slices.Contains(cfg.IgnoreLabels, "__name__") {
		return fmt.Errorf("-validator.ignore-labels must not hold __name__: series of different metrics would be one series")
	}
	if cfg.MaxOffenders < 0 {
		return fmt.Errorf("-validator.max-offenders must not be negative")
	}
	if cfg.TenantIdleTimeout < 0 {
		return fmt.Errorf("-validator.tenant-idle-timeout must not be negative")
	}
	if cfg.MaxRequestBytes <= 0 {
		return fmt.Errorf("-validator.max-request-bytes must be positive")
	}
	if err := cfg.CrossRequest.Validate(); err != nil {
		return err
	}
	return cfg.Limits.Validate()
}

// labelNameRE is Prometheus' classic label name syntax, without the "__"
// prefix reserved for internal labels.
var labelNameRE = regexp.MustCompile(`^(?:[a-zA-Z][a-zA-Z0-9_]*|_[a-zA-Z0-9][a-zA-Z0-9_]*)$`)

// Validator runs the domain half of a push: decode, inspect, plan actions,
// record offenders.
type Validator struct {
	cfg       Config
	inspector *Inspector
	overrides *Overrides
	store     *report.Store
	// record is nil when cross-request detection is off.
	record *SeriesRecord
	logger log.Logger
	dupLog *duplicateLog
	refLog *refusalLog
	attrib *Attribution
	// activity says which tenants have metric series, and since when
	// they are idle.
	activity *tenantActivity

	receivedSamples *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	dropped         *prometheus.CounterVec
	lookups         *prometheus.CounterVec
	hits            *prometheus.CounterVec
	changed         *prometheus.CounterVec
	relabelled      *prometheus.CounterVec
	failures        *prometheus.CounterVec
	refused         *prometheus.CounterVec
}

// New returns a Validator applying cfg's defaults to every tenant.
func New(cfg Config, logger log.Logger, reg prometheus.Registerer) (*Validator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o, err := NewOverrides(cfg, RuntimeConfig{}, logger, reg)
	if err != nil {
		return nil, err
	}
	return NewWithOverrides(cfg, o, logger, reg)
}

// NewWithOverrides returns a Validator taking each tenant's rules, default
// action and origin labels from o.
func NewWithOverrides(cfg Config, o *Overrides, logger log.Logger, reg prometheus.Registerer) (*Validator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Validator{
		cfg:       cfg,
		inspector: NewInspector(NewIdentity(cfg.IgnoreLabels)),
		overrides: o,
		store:     report.NewStore(cfg.MaxOffendersPerTenant, reg, report.WithMaxOffenders(cfg.MaxOffenders)),
		logger:    logger,
		dupLog:    newDuplicateLog(logger, cfg.WarnLogRate, cfg.DebugLog, reg),
		refLog:    newRefusalLog(logger, cfg.WarnLogRate, reg),
		attrib:    NewAttribution(cfg.AttributionLabels, cfg.MaxAttributionCardinality, reg),
		activity:  newTenantActivity(),
		receivedSamples: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "received_samples_total",
			Help:      "Float samples and native histograms received in pushes.",
		}, []string{"tenant"}),
		duplicates: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "duplicate_samples_total",
			Help:      "Samples that repeat the series and timestamp of an earlier sample, by kind, whether the value conflicts and the action applied.",
		}, []string{"tenant", "kind", "conflict", "action"}),
		dropped: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "dropped_samples_total",
			Help:      "Duplicate samples removed from pushes before forwarding, by action.",
		}, []string{"tenant", "action"}),
		changed: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "changed_samples_total",
			Help:      "Samples forwarded with a new value, such as the sum of their duplicate group, by action.",
		}, []string{"tenant", "action"}),
		relabelled: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "relabelled_samples_total",
			Help:      "Samples moved to a series carrying the disambiguation label by the label action.",
		}, []string{"tenant"}),
		failures: newFailuresCounter(reg),
		refused: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "rejected_requests_total",
			Help:      "Pushes refused by pushguard itself, over HTTP or gRPC, by reason (the stable error ID).",
		}, []string{"reason"}),
	}
	if cfg.CrossRequest.Enabled {
		v.record = NewSeriesRecord(cfg.CrossRequest.MaxSeries, cfg.CrossRequest.TTL, reg)
		v.lookups = promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "cross_request_lookups_total",
			Help:      "Series identities of pushes looked up in the cross-request record.",
		}, []string{"tenant"})
		v.hits = promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "cross_request_hits_total",
			Help:      "Series identities of pushes the cross-request record held a recently forwarded sample for.",
		}, []string{"tenant"})
	}
	return v, nil
}

// SeriesRecord returns the record of recently forwarded series, or nil when
// cross-request detection is off.
func (v *Validator) SeriesRecord() *SeriesRecord { return v.record }

// Store returns the offender store.
func (v *Validator) Store() *report.Store { return v.store }

// MaxRequestBytes returns the configured body size limit.
func (v *Validator) MaxRequestBytes() int { return v.cfg.MaxRequestBytes }

// Checked is one inspected push. It holds pooled buffers: call Release
// when done with it.
type Checked struct {
	Request *Request
	Result  Result
	Patch   Patch
	// Changed reports whether the actions changed the request.
	Changed bool
	// FailedOpen reports that inspecting or patching failed inside
	// pushguard: the request is forwarded as it came and nothing of it is
	// recorded.
	FailedOpen bool

	// The patched request once encoded, as Body and as Protobuf return
	// it: a check encodes the one its caller forwards.
	patchedSnappy, patchedProto []byte
	counts                      pushCounts
	// acrossAtSettle says that the push went upstream as it came and that
	// its across_requests duplicates are looked for when it is settled.
	acrossAtSettle bool
}

var checkedPool = sync.Pool{New: func() any { return &Checked{} }}

// Release returns c's buffers to their pools.
func (c *Checked) Release() {
	if c.Request != nil {
		PutRequest(c.Request)
		c.Request = nil
	}
	c.Changed = false
	c.FailedOpen = false
	c.acrossAtSettle = false
	c.patchedSnappy, c.patchedProto = nil, nil
	if c.poolable() {
		checkedPool.Put(c)
	}
}

// poolable reports whether c's working space, sized by the largest request
// it served, is small enough to keep for reuse.
func (c *Checked) poolable() bool {
	p, res := &c.Patch, &c.Result
	return cap(p.proto) <= maxPooledBufBytes && cap(p.fresh) <= maxPooledBufBytes &&
		cap(p.compressed) <= maxPooledBufBytes &&
		cap(p.scratch) <= maxPooledBufBytes && cap(p.samples) <= maxPooledItems &&
		cap(p.copied) <= maxPooledItems &&
		cap(p.touched) <= maxPooledItems && cap(p.Outcomes) <= maxPooledItems &&
		cap(res.Group) <= maxPooledItems && cap(res.entries) <= maxPooledItems &&
		cap(res.Duplicates) <= maxPooledItems && cap(res.batch.keys) <= maxPooledItems &&
		cap(res.heads) <= 4*maxPooledItems &&
		len(c.counts.attr.index) <= maxPooledGroups
}

// Body returns what to forward: the original bytes when nothing changed,
// the re-encoded patched request otherwise.
func (c *Checked) Body(original []byte) []byte {
	if !c.Changed {
		return original
	}
	if c.patchedSnappy != nil {
		return c.patchedSnappy
	}
	return c.Patch.Encode(c.Request)
}

// AllDropped reports whether the actions dropped every sample of the
// request, so that there is nothing left to forward: metric metadata and
// exemplars, when the request carries some, are still forwarded.
func (c *Checked) AllDropped() bool {
	return c.Changed && c.Patch.Dropped == c.Samples() && !c.Request.HasMetadata && c.Request.Exemplars == 0
}

// Samples returns the number of float samples and histograms in the request.
func (c *Checked) Samples() int {
	return len(c.Request.Samples) + len(c.Request.Histograms)
}

// Check decompresses and decodes a remote-write body of the given
// version, finds its duplicates and plans the tenant's actions. A push the
// reject action refuses is recorded in the report and answered with an
// error.
func (v *Validator) Check(meta Meta, version Version, body []byte) (*Checked, error) {
	return v.CheckForwarding(meta, version, body, nil)
}

// CheckForwarding is Check for a caller that forwards the push: when the
// tenant's actions only report, what goes upstream is the body as it came
// whatever inspection finds, and forward is called as soon as the body
// decoded, so that the caller can send it while inspection goes on. After
// forward was called CheckForwarding returns no error (a failure of
// inspection is failed open), and the caller sends body itself, not
// Checked.Body; it calls Settle once the upstream answered, as ever.
// Otherwise forward is not called.
func (v *Validator) CheckForwarding(meta Meta, version Version, body []byte, forward func()) (*Checked, error) {
	r := GetRequest()
	r.Version = version
	if err := Decompress(body, v.cfg.MaxRequestBytes, r); err != nil {
		PutRequest(r)
		return nil, err
	}
	return v.check(meta, r, func(c *Checked) { c.patchedSnappy = c.Patch.EncodeFrom(c.Request, body) }, forward)
}

// Record counts a checked push's duplicates and adds its offenders to the
// report. Call it once the push's fate is known, so that a push the sender
// will retry is not counted twice.
func (v *Validator) Record(c *Checked, meta Meta) {
	if c.FailedOpen || len(c.Result.Duplicates) == 0 {
		return
	}
	// The push is already answered: a failure here costs only its report.
	defer v.recoverRecord(meta)
	pc := &c.counts
	pc.reset()
	for k := range c.Result.Duplicates {
		pc.add(v, c, k)
	}
	pc.flush(v, meta.Tenant)
	v.dupLog.log(c.Request, &c.Result, c.Patch.Outcomes, meta)
	found, lazy := offenders(c.Request, &c.Result, c.Patch.Outcomes, v.OriginLabels(meta.Tenant), meta, &v.cfg.Limits)
	v.store.RecordWith(found, lazy)
}

// OriginLabels returns the origin labels of tenant: its runtime override
// when it has one, -validator.origin-labels otherwise.
func (v *Validator) OriginLabels(tenant string) []string {
	return v.overrides.For(tenant).OriginLabels
}

// Refused counts a push pushguard itself refused with err, whichever
// interface received it, and warns of it (rate-limited). meta names the
// sender as far as it is known: its Tenant is what the sender gave when
// that was refused.
func (v *Validator) Refused(err error, meta Meta) {
	v.refused.WithLabelValues(string(IDOf(err))).Inc()
	v.refLog.log(err, meta)
}

// Stored reports whether an upstream answering a push with this HTTP
// status stored it: a 2xx but 202, with which Mimir's HA tracker answers a
// push from a replica that is not the elected one, whose samples it drops.
// Such a push teaches the cross-request record nothing; recorded, its
// samples would make the elected replica's, at the same timestamps and with
// -validator.ignore-labels=__replica__ the same series, repeats of samples
// the upstream never took.
func Stored(status int) bool { return status/100 == 2 && status != 202 }

// Retryable reports whether a sender retries a push answered with this
// HTTP status (5xx, 429): such a push comes back and is settled then.
func Retryable(status int) bool { return status >= 500 || status == 429 }

// Settle accounts for a checked push once its fate is known; status is the
// upstream's HTTP status, or 200 when nothing was left to forward. A push
// the sender will retry is left alone, so that it is counted once, when it
// comes back; any other is recorded in the report; and only one the
// upstream stored teaches the record what was forwarded (after a 4xx,
// Mimir's partial write, it is unknown which samples were kept; after a
// 202, see Stored, none were).
//
// A push that went upstream as it came, its tenant only reporting, is
// looked up in the record here, after the upstream answered, and the
// record learns it in the same pass when it was accepted (InspectSettled):
// its across_requests duplicates are those of the pushes accepted before it
// was answered, in flight with it or not.
func (v *Validator) Settle(c *Checked, meta Meta, status int) {
	if Retryable(status) {
		return
	}
	// Before Record, which reports what a settled lookup finds.
	switch {
	case Stored(status):
		v.Accepted(c, meta)
	case c.acrossAtSettle:
		v.inspectSettled(c, meta, false)
	case status/100 == 4:
		v.inspectRefused(c, meta)
	}
	v.Record(c, meta)
}

// inspectRefused looks a refused push (4xx), checked before it was
// forwarded, up in the record again, and reports the across_requests
// duplicates the record holds now and did not then: a push accepted while
// this one was in flight (a sender's other shard, the other replica of a
// pair) with a sample at the same timestamp, which is why the upstream may
// have refused this one. Each is judged on what this push forwarded at
// that timestamp, which an action may have changed; nothing can be patched
// any more, so they are reported. The second lookup is not counted in the
// lookup metrics, which count identities looked up per push.
func (v *Validator) inspectRefused(c *Checked, meta Meta) {
	if v.record == nil || c.FailedOpen {
		return
	}
	defer v.recoverRecord(meta)
	res := &c.Result
	before := len(res.Duplicates)
	v.record.InspectAcross(TenantHash(meta.Tenant), c.Request, res, meta.Time)
	kept := res.Duplicates[:before]
	for _, d := range res.Duplicates[before:] {
		if foundBefore(res.Duplicates[:before], d.Sample) {
			continue
		}
		fw, ok := forwardedAt(c.Request, res, &c.Patch, res.Group[d.Sample.Series], d.TimestampMs)
		if !ok {
			continue // this push sent nothing at that timestamp
		}
		d.Conflicting = fw.Histogram != d.RecordedHistogram || fw.Value != d.RecordedValue
		kept = append(kept, d)
		c.Patch.Outcomes = append(c.Patch.Outcomes, Outcome{Action: ActionReport})
	}
	res.Duplicates = kept
}

// foundBefore reports whether dups holds an across_requests duplicate of
// the sample ref.
func foundBefore(dups []Duplicate, ref SampleRef) bool {
	for _, d := range dups {
		if d.Kind == AcrossRequests && d.Sample == ref {
			return true
		}
	}
	return false
}

// inspectSettled adds a push's across_requests duplicates, found once the
// upstream answered it, to its result, as reported (the push went upstream
// as it came), and records it when accepted: a refused push is only
// looked up.
func (v *Validator) inspectSettled(c *Checked, meta Meta, accepted bool) {
	defer v.recoverRecord(meta)
	c.acrossAtSettle = false
	before := len(c.Result.Duplicates)
	tenant := TenantHash(meta.Tenant)
	var lookups, hits int
	if accepted {
		lookups, hits = v.record.InspectSettled(tenant, c.Request, &c.Result, &c.Patch, meta.Time)
	} else {
		lookups, hits = v.record.InspectAcross(tenant, c.Request, &c.Result, meta.Time)
	}
	v.countLookups(meta.Tenant, lookups, hits)
	for range c.Result.Duplicates[before:] {
		c.Patch.Outcomes = append(c.Patch.Outcomes, Outcome{Action: ActionReport})
	}
}

// countLookups counts a push's record lookups and how many found their
// series.
func (v *Validator) countLookups(tenant string, lookups, hits int) {
	v.lookups.WithLabelValues(tenant).Add(float64(lookups))
	v.hits.WithLabelValues(tenant).Add(float64(hits))
	v.touchTenant(tenant)
}

// Accepted remembers the latest forwarded sample of each series of a checked
// push, for finding duplicates across requests. Call it only when the
// upstream accepted the push (2xx): a refused push may not have been stored.
//
// Two pushes of one series in flight at once, checked before forwarding
// (their tenant's actions may patch), are both checked against the record
// as it was before either was accepted, so neither sees the other; the
// record then keeps the larger timestamp (at an equal timestamp, the value
// accepted first). The upstream decides between such two pushes. A push
// forwarded as it came is checked when settled instead (see Settle), or
// here, in the same pass, when Accepted comes first.
func (v *Validator) Accepted(c *Checked, meta Meta) {
	if v.record == nil || c.FailedOpen {
		return
	}
	if c.acrossAtSettle {
		v.inspectSettled(c, meta, true)
		return
	}
	v.record.Accepted(TenantHash(meta.Tenant), c.Request, &c.Result, &c.Patch, meta.Time)
}
