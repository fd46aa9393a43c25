package tests

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

const dashboardFile = "../deploy/grafana/pushguard.json"

// grafanaVars are replaced by what Grafana would put in their place before
// an expression is parsed.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"$job", ".+",
	"$tenant", ".+",
)

// labelValues matches a Grafana label_values(<selector>, <label>) query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// dashboardExprs returns every PromQL expression of the dashboard, by where
// it sits: panel targets (rows included) and template variable queries.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.NotEmpty(t, dash.UID)

	exprs := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.Expr, "panel %q target %s has no expression", p.Title, tg.RefID)
				exprs["panel "+p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(s)
		require.NotNil(t, m, "variable %s: want label_values(<selector>, <label>), got %q", v.Name, s)
		exprs["variable "+v.Name] = m[1]
	}
	return exprs
}

// metricNames parses expr and returns every metric name it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(expr))
	require.NoError(t, err, "%s: %s", where, expr)
	var names []string
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := ""
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		require.NotEmpty(t, name, "%s: every selector names its metric: %s", where, expr)
		names = append(names, name)
		return nil
	})
	require.NotEmpty(t, names, "%s selects no metric: %s", where, expr)
	return names
}

// scrapeNames returns the name of every series on inst's /metrics.
func scrapeNames(t *testing.T, inst *instance) map[string]bool {
	t.Helper()
	resp, err := http.Get(inst.url("/metrics"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	require.NoError(t, sc.Err())
	return names
}

// TestDashboard checks that every expression of the Grafana dashboard parses
// with Prometheus' own parser and names only metrics a running pushguard
// exposes once it has seen duplicates, repaired some, refused a push,
// evicted an offender and loaded a runtime file.
func TestDashboard(t *testing.T) {
	exprs := dashboardExprs(t)
	require.NotEmpty(t, exprs)

	runtimeFile := filepath.Join(t.TempDir(), "runtime.yaml")
	require.NoError(t, os.WriteFile(runtimeFile, []byte("overrides:\n  team-b:\n    action: report\n"), 0o600))
	inst := startPushguard(t, "-validator.action=keep-first", "-validator.max-offenders-per-tenant=1", "-runtime-config.file="+runtimeFile)

	// The job variable every panel filters by is there before the first
	// push: a new or idle install shows its memory, CPU and zeros, not
	// empty panels.
	for _, name := range metricNames(t, "variable job", exprs["variable job"]) {
		require.True(t, scrapeNames(t, inst)[name], "%s is not exposed before the first push", name)
	}

	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)
	cadvisor := prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "container_spec_cpu_period"}, {Name: "job", Value: "cadvisor"}},
		Samples: []prompb.Sample{{Value: 100000, Timestamp: at.UnixMilli()}, {Value: 50000, Timestamp: at.UnixMilli()}},
	}
	// Two offenders in a store of one: the second evicts the first.
	require.NoError(t, push(t, c, ksmJobFailed(1, at), ksmJobFailed(0, at), cadvisor))
	status, _ := inst.rawPush(t, []byte("not snappy"), map[string]string{"X-Scope-OrgID": "team-a"})
	require.Equal(t, http.StatusBadRequest, status)

	exposed := scrapeNames(t, inst)
	var missing []string
	for where, expr := range exprs {
		for _, name := range metricNames(t, where, expr) {
			if !exposed[name] {
				missing = append(missing, where+": "+name)
			}
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "the dashboard names metrics pushguard does not expose")
}
