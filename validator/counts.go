package validator

import "strconv"

// pushCounts adds up a push's duplicates by the labels of the counters they
// go to, so that each counter is looked up once a push rather than once a
// duplicate: a label lookup hashes every label value.
type pushCounts struct {
	dups    []dupTally
	actions []actionTally
	// relabelled has one label, the tenant.
	relabelled int
	attr       attributionGroups
}

// maxPooledGroups caps the attribution groups of a pooled Checked: a map
// does not shrink.
const maxPooledGroups = 1024

// reset empties pc for another push, keeping its room.
func (pc *pushCounts) reset() {
	pc.dups, pc.actions, pc.relabelled = pc.dups[:0], pc.actions[:0], 0
	g := &pc.attr
	clear(g.index)
	clear(g.groups) // drops the label values
	g.groups = g.groups[:0]
}

type dupTally struct {
	kind        Kind
	conflicting bool
	action      Action
	n           int
}

type actionTally struct {
	action           Action
	dropped, changed int
}

// add counts duplicate k of c.
func (pc *pushCounts) add(v *Validator, c *Checked, k int) {
	d := &c.Result.Duplicates[k]
	action := ActionReport
	var o *Outcome
	if k < len(c.Patch.Outcomes) {
		o = &c.Patch.Outcomes[k]
		action = o.Action
	}
	pc.dup(d.Kind, d.Conflicting, action)
	if len(v.attrib.labels) > 0 {
		v.attrib.group(&pc.attr, c.Request, int(d.Sample.Series), d.Kind, d.Conflicting)
	}
	if o == nil {
		return
	}
	if o.Dropped > 0 || o.Changed > 0 {
		t := pc.action(o.Action)
		t.dropped += int(o.Dropped)
		t.changed += int(o.Changed)
	}
	pc.relabelled += int(o.Relabelled)
}

func (pc *pushCounts) dup(kind Kind, conflicting bool, action Action) {
	for i := range pc.dups {
		if t := &pc.dups[i]; t.kind == kind && t.conflicting == conflicting && t.action == action {
			t.n++
			return
		}
	}
	pc.dups = append(pc.dups, dupTally{kind: kind, conflicting: conflicting, action: action, n: 1})
}

func (pc *pushCounts) action(a Action) *actionTally {
	for i := range pc.actions {
		if pc.actions[i].action == a {
			return &pc.actions[i]
		}
	}
	pc.actions = append(pc.actions, actionTally{action: a})
	return &pc.actions[len(pc.actions)-1]
}

// flush adds the counts to v's metrics.
func (pc *pushCounts) flush(v *Validator, tenant string) {
	for _, t := range pc.dups {
		v.duplicates.WithLabelValues(tenant, t.kind.String(), strconv.FormatBool(t.conflicting), string(t.action)).Add(float64(t.n))
	}
	for _, t := range pc.actions {
		if t.dropped > 0 {
			v.dropped.WithLabelValues(tenant, string(t.action)).Add(float64(t.dropped))
		}
		if t.changed > 0 {
			v.changed.WithLabelValues(tenant, string(t.action)).Add(float64(t.changed))
		}
	}
	if pc.relabelled > 0 {
		v.relabelled.WithLabelValues(tenant).Add(float64(pc.relabelled))
	}
	for _, g := range pc.attr.groups {
		v.attrib.Add(tenant, g.kind.String(), strconv.FormatBool(g.conflicting), g.values, g.n)
	}
	v.touchTenant(tenant)
}
