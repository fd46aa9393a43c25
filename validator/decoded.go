package validator

import (
	"time"

	"github.com/go-kit/log/level"

	"github.com/pushguard/pushguard/validator/report"
)

// CheckDecoded is Check for a request whose decompressed protobuf is
// already in r.Buf, as when it arrives over gRPC; r.Version says which
// remote-write message it is (remote write 1.0 unless set to RW2). It takes
// ownership of r: r goes back to the pool with the Checked's Release, or
// at once on error.
func (v *Validator) CheckDecoded(meta Meta, r *Request) (*Checked, error) {
	return v.CheckDecodedForwarding(meta, r, nil)
}

// CheckDecodedForwarding is CheckDecoded with forward called, when the
// tenant's actions only report, as soon as r decoded: see CheckForwarding.
func (v *Validator) CheckDecodedForwarding(meta Meta, r *Request, forward func()) (*Checked, error) {
	return v.check(meta, r, func(c *Checked) { c.patchedProto = c.Protobuf() }, forward)
}

// DryRun inspects r and plans action (the tenant's rules when action is
// empty) without counting or recording anything. It looks r up in the
// cross-request record, as a push of the tenant would be, so that its
// across_requests duplicates and patched request are what a push would get
// now; the record does not learn r. Like CheckDecoded it takes ownership of
// r. A request the reject action would refuse comes back unchanged, with
// Patch.Rejected set.
func (v *Validator) DryRun(tenant string, r *Request, action Action) (*Checked, error) {
	var policy Policy = v.overrides.For(tenant).Rules
	if action != "" {
		policy = StaticPolicy(action)
	}
	var c *Checked
	err := guard(func() error {
		var err error
		c, err = v.inspect(r, policy, &Meta{Tenant: tenant, Time: time.Now(), dryRun: true}, nil)
		return err
	})
	if p, ok := err.(*panicError); ok {
		level.Error(v.logger).Log("msg", "dry run failed", "err", p, "stack", string(p.stack))
		PutRequest(r)
		return nil, NewError(ErrIDInspectionFailed, CauseInternal, p, "inspecting the request failed inside pushguard")
	}
	if err != nil {
		PutRequest(r)
		return nil, err
	}
	return c, nil
}

// Offenders returns the offender records of a checked request, as Record
// would merge them into the report.
func (v *Validator) Offenders(c *Checked, meta Meta) []*report.Offender {
	return Offenders(c.Request, &c.Result, c.Patch.Outcomes, v.OriginLabels(meta.Tenant), meta, &v.cfg.Limits)
}

// inspect finds r's duplicates and plans policy. With meta, the record of
// recently forwarded series is looked up for meta's tenant too. forwarded,
// when not nil, is called once r decoded without error: r then goes
// upstream as it came, and the record is looked up once the upstream
// answered, when the push is settled (InspectSettled), rather than here.
func (v *Validator) inspect(r *Request, policy Policy, meta *Meta, forwarded func()) (*Checked, error) {
	// Bodies that arrived compressed were held to the limit before they
	// were decompressed (Decompress); this covers the ones that did not.
	if len(r.Buf) > v.cfg.MaxRequestBytes {
		return nil, NewError(ErrIDRequestTooLarge, CauseTooLarge, nil,
			"write request of %d bytes is over the limit of %d bytes", len(r.Buf), v.cfg.MaxRequestBytes)
	}
	c := checkedPool.Get().(*Checked)
	c.Request = r
	r.SetLimits(v.cfg.Limits.MaxSeriesPerRequest, v.cfg.Limits.MaxLabelNamesPerSeries)
	decode := DecodeRW1
	if r.Version == RW2 {
		decode = DecodeRW2
	}
	if err := decode(c.Request); err != nil {
		// r stays the caller's, to release or to fail open with.
		c.Request = nil
		c.Release()
		return nil, err
	}
	if forwarded != nil {
		forwarded()
	}
	if testHookInspect != nil {
		testHookInspect(r)
	}
	v.inspector.Inspect(c.Request, &c.Result)
	if v.record != nil && meta != nil {
		if forwarded != nil {
			c.acrossAtSettle = true
		} else {
			lookups, hits := v.record.InspectAcross(TenantHash(meta.Tenant), c.Request, &c.Result, meta.Time)
			if !meta.dryRun {
				v.countLookups(meta.Tenant, lookups, hits)
			}
		}
	}
	c.Patch.LabelName = v.cfg.DisambiguationLabel
	c.Patch.MaxLabelNames = v.cfg.DisambiguationMaxLabels
	c.Patch.Identity = v.inspector.Identity()
	c.Changed = c.Patch.Plan(c.Request, &c.Result, policy)
	return c, nil
}

// Protobuf returns the uncompressed protobuf to forward: the decoded
// request's own bytes when nothing changed, the patched request otherwise.
// Like Body, a patched result is owned by c and valid until Release.
func (c *Checked) Protobuf() []byte {
	if !c.Changed {
		return c.Request.Buf
	}
	if c.patchedProto != nil {
		return c.patchedProto
	}
	c.Patch.build(c.Request)
	return c.Patch.Protobuf()
}
