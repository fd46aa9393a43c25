package validator

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// RuleConfig is one rule as written in YAML: duplicates of series the
// selector matches, of one of the kinds, get the action.
type RuleConfig struct {
	// Match is a PromQL series selector such as
	// '{__name__=~"kube_.*", job="kube-state-metrics"}'; empty matches
	// every series.
	Match string `yaml:"match"`
	// Kinds restricts the rule to some kinds of duplicate; empty means all.
	Kinds  []string `yaml:"kinds,omitempty"`
	Action string   `yaml:"action"`
}

// Rules is an ordered list of rules with a default action. It is a Policy:
// the first rule matching a duplicate decides its action, and the default
// applies when none does.
type Rules struct {
	rules []rule
	def   Action
}

type rule struct {
	matchers []*labels.Matcher
	kinds    uint8 // a bit per Kind; 0 means every kind
	action   Action
}

var selectorParser = parser.NewParser(parser.Options{})

// CompileRules parses rules: their selectors with Prometheus' own parser,
// their kinds and actions. An error names the rule at fault.
func CompileRules(cfgs []RuleConfig, def Action) (*Rules, error) {
	rs := &Rules{def: def, rules: make([]rule, 0, len(cfgs))}
	for i, c := range cfgs {
		ru, err := compileRule(c)
		if err != nil {
			return nil, fmt.Errorf("rule %d (match %q): %w", i+1, c.Match, err)
		}
		rs.rules = append(rs.rules, ru)
	}
	return rs, nil
}

func compileRule(c RuleConfig) (rule, error) {
	var ru rule
	if c.Match != "" {
		ms, err := selectorParser.ParseMetricSelector(c.Match)
		if err != nil {
			return ru, fmt.Errorf("invalid series selector: %w", err)
		}
		ru.matchers = ms
	}
	for _, name := range c.Kinds {
		k, ok := ParseKind(name)
		if !ok {
			return ru, fmt.Errorf("unknown kind %q, expected one of %s", name, strings.Join(KindNames(), ", "))
		}
		ru.kinds |= 1 << k
	}
	if c.Action == "" {
		return ru, fmt.Errorf("no action")
	}
	a, err := ParseAction(c.Action)
	if err != nil {
		return ru, err
	}
	ru.action = a
	return ru, nil
}

// Default returns the action of duplicates no rule matches.
func (rs *Rules) Default() Action { return rs.def }

// OnlyReports reports whether every duplicate gets the report action, so
// that the request forwarded is the one received whatever inspection finds.
func (rs *Rules) OnlyReports() bool {
	if rs.def != ActionReport {
		return false
	}
	for k := range rs.rules {
		if rs.rules[k].action != ActionReport {
			return false
		}
	}
	return true
}

// ActionFor implements Policy. Selectors match the labels of the series the
// duplicate sample arrived in.
func (rs *Rules) ActionFor(r *Request, d *Duplicate) Action {
	for k := range rs.rules {
		ru := &rs.rules[k]
		if ru.kinds != 0 && ru.kinds&(1<<d.Kind) == 0 {
			continue
		}
		if ru.matches(r, int(d.Sample.Series)) {
			return ru.action
		}
	}
	return rs.def
}

func (ru *rule) matches(r *Request, si int) bool {
	ls := r.SeriesLabels(si)
	for _, m := range ru.matchers {
		var v []byte
		for _, l := range ls {
			if string(r.Bytes(l.Name)) == m.Name {
				v = r.Bytes(l.Value)
				break
			}
		}
		if !m.Matches(yoloString(v)) {
			return false
		}
	}
	return true
}

// yoloString views b as a string without copying; Matches does not keep it.
func yoloString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
