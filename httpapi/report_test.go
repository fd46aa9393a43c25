package httpapi

import (
	"html"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/flagext"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator"
	"github.com/pushguard/pushguard/validator/report"
)

func TestSenderAddress(t *testing.T) {
	cfg := ReportConfig{TrustedProxies: flagext.StringSliceCSV{"10.0.0.0/8", "192.168.1.1"}}
	require.NoError(t, cfg.Validate())
	for name, tc := range map[string]struct {
		peer, xff string
		want      string
	}{
		"no proxy":                         {peer: "203.0.113.5:4321", want: "203.0.113.5"},
		"untrusted peer's header ignored":  {peer: "203.0.113.5:4321", xff: "1.2.3.4", want: "203.0.113.5"},
		"trusted proxy names the client":   {peer: "10.1.2.3:80", xff: "198.51.100.7", want: "198.51.100.7"},
		"chain of trusted proxies":         {peer: "10.1.2.3:80", xff: "198.51.100.7, 192.168.1.1, 10.9.9.9", want: "198.51.100.7"},
		"forged left entries are not used": {peer: "10.1.2.3:80", xff: "6.6.6.6, 198.51.100.7", want: "198.51.100.7"},
		"garbage stops the walk":           {peer: "10.1.2.3:80", xff: "198.51.100.7, nonsense", want: "10.1.2.3"},
		"trusted proxy without header":     {peer: "192.168.1.1:80", want: "192.168.1.1"},
		"IPv6 peer":                        {peer: "[2001:db8::1]:80", want: "2001:db8::1"},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/push", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			require.Equal(t, tc.want, cfg.SenderAddress(r))
		})
	}
	bad := ReportConfig{TrustedProxies: flagext.StringSliceCSV{"not-an-ip"}}
	require.Error(t, bad.Validate())
}

func testStore(t *testing.T) *report.Store {
	s := report.NewStore(10, prometheus.NewRegistry())
	now := time.Now()
	s.Record([]*report.Offender{
		{Tenant: "team-a", Metric: "kube_job_status_failed", Kind: "across_series", Origin: map[string]string{"job": "kube-state-metrics"},
			ConflictingSamples: 3, FirstSeen: now, LastSeen: now, Action: "report",
			Example: report.Example{Labels: map[string]string{"__name__": "kube_job_status_failed", "evil": `<script>alert(1)</script>`}, Values: []report.Value{1, 0}, Samples: []string{"1", "0"}}},
		{Tenant: "team-b", Metric: "secret_metric_of_b", Kind: "within_series", Origin: map[string]string{"job": `"><img src=x onerror=alert(1)>`},
			IdenticalSamples: 1, FirstSeen: now, LastSeen: now, Action: "report"},
	})
	return s
}

func get(t *testing.T, h http.Handler, target string, header map[string]string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestUIEscapesAndScopes(t *testing.T) {
	s := testStore(t)
	auth := validator.AuthConfig{MultitenancyEnabled: true}

	admin := NewUIHandler(auth, s, true, "pushguard-7c9f-x2k4", log.NewNopLogger())
	code, body := get(t, admin, "/", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "kube_job_status_failed")
	require.Contains(t, body, "secret_metric_of_b", "the operator view shows every tenant")
	require.NotContains(t, body, "<img src=x")
	require.Contains(t, body, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;")
	require.Contains(t, body, "Reported by replica <code>pushguard-7c9f-x2k4</code>", "the page names the replica it is one of")

	code, body = get(t, admin, "/?tenant=team-a", nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, "secret_metric_of_b")

	all, _ := s.ListAll(report.Filter{Tenant: "team-a"})
	code, body = get(t, admin, "/offender?tenant=team-a&id="+all[0].ID, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, body, "<script>alert(1)")
	require.Contains(t, body, "without the label that tells them apart", "the kube-state-metrics hint")

	code, body = get(t, admin, "/offender?tenant=team-a&id=nope", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, "Reported by replica <code>pushguard-7c9f-x2k4</code>", "an offender another replica holds is not found here")
	code, body = get(t, admin, "/static/report.css", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "table.offenders")
	// Every file the pages link to is served (a browser asks for the icon
	// of every page).
	_, page := get(t, admin, "/", nil)
	links := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	require.Len(t, links, 3, "stylesheet, script and icon")
	for _, l := range links {
		code, _ = get(t, admin, l[1], nil)
		require.Equal(t, http.StatusOK, code, l[1])
	}

	scoped := NewUIHandler(auth, s, false, "pushguard-7c9f-x2k4", log.NewNopLogger())
	code, _ = get(t, scoped, "/", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	code, body = get(t, scoped, "/?tenant=team-b", map[string]string{"X-Scope-OrgID": "team-a"})
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "kube_job_status_failed")
	require.NotContains(t, body, "secret_metric_of_b", "a tenant never sees another tenant's offenders")
	require.Contains(t, body, "<strong>1</strong> offenders of tenant <strong>team-a</strong>", "nor how many the others have")
}

func TestAdminOffendersJSON(t *testing.T) {
	h := NewAdminOffendersHandler(testStore(t), "pushguard-0")
	code, body := get(t, h, "/admin/api/v1/offenders", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"instance":"pushguard-0"`)
	require.Contains(t, body, `"tenant":"team-a"`)
	require.Contains(t, body, `"tenant":"team-b"`)
	code, body = get(t, h, "/admin/api/v1/offenders?tenant=team-b", nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, `"tenant":"team-a"`)
	code, body = get(t, h, "/admin/api/v1/offenders?origin=nonsense", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.True(t, strings.HasSuffix(strings.TrimSpace(body), "(err-pushguard-bad-query)"), body)
	code, body = get(t, h, "/admin/api/v1/offenders?tenant=team-a&tenant=team-b", nil)
	require.Equal(t, http.StatusBadRequest, code, "a repeated tenant is refused, as a repeated metric is")
	require.Contains(t, body, "tenant given 2 times")
}

// TestUIFilterErrors: a filter the page cannot read is shown on the page,
// with the form to put it right, not as a bare text answer.
func TestUIFilterErrors(t *testing.T) {
	ui := NewUIHandler(validator.AuthConfig{MultitenancyEnabled: true}, testStore(t), true, "pushguard-0", log.NewNopLogger())
	for _, target := range []string{"/?origin=kube-state-metrics&limit=7", "/?tenant=team-a&tenant=team-b&limit=7"} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		w := httptest.NewRecorder()
		ui.ServeHTTP(w, r)
		body := w.Body.String()
		require.Equal(t, http.StatusBadRequest, w.Code, target)
		require.Equal(t, "text/html; charset=utf-8", w.Result().Header.Get("Content-Type"), "%s: sent with the status", target)
		require.Contains(t, body, `role="alert"`, target)
		require.Contains(t, body, "err-pushguard-bad-query", target)
		require.Contains(t, body, `<form class="filters"`, target)
		require.Contains(t, body, `name="limit" value="7"`, "the form keeps the limit it was given")
		require.NotContains(t, body, `<table id="offenders"`, target)
	}
}

// TestUIForgottenTenant: a tenant whose offenders were all evicted stays
// selected in the form, and the page says where its offenders went.
func TestUIForgottenTenant(t *testing.T) {
	s := report.NewStore(10, prometheus.NewRegistry(), report.WithMaxOffenders(1))
	now := time.Now()
	s.Record([]*report.Offender{{Tenant: "gone", Metric: "m1", Kind: "across_series", ConflictingSamples: 1, FirstSeen: now, LastSeen: now, Action: "report"}})
	s.Record([]*report.Offender{{Tenant: "other", Metric: "m2", Kind: "across_series", ConflictingSamples: 1, FirstSeen: now, LastSeen: now.Add(time.Second), Action: "report"}})
	require.Equal(t, []string{"other"}, s.Stats().Tenants, "the report forgot the tenant")
	ui := NewUIHandler(validator.AuthConfig{MultitenancyEnabled: true}, s, true, "pushguard-0", log.NewNopLogger())
	code, body := get(t, ui, "/?tenant=gone", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<option value="gone" selected>gone</option>`)
	require.Contains(t, body, "1 offenders were evicted when the report was full")
	require.NotContains(t, body, "Nothing has pushed a duplicate sample")
}

func TestUIShowsWhatTheActionDid(t *testing.T) {
	s := report.NewStore(10, prometheus.NewRegistry())
	now := time.Now()
	s.Record([]*report.Offender{{
		Tenant: "t", Metric: "http_requests_total", Kind: "across_series", Origin: map[string]string{"job": "api"},
		ConflictingSamples: 3, FirstSeen: now, LastSeen: now, Action: "keep-first", RequestedAction: "sum",
		DroppedSamples: 2, ChangedSamples: 1, RelabelledSamples: 4,
	}})
	all, _ := s.ListAll(report.Filter{})
	require.Len(t, all, 1)
	ui := NewUIHandler(validator.AuthConfig{MultitenancyEnabled: true}, s, true, "pushguard-0", log.NewNopLogger())
	code, body := get(t, ui, "/offender?tenant=t&id="+all[0].ID, nil)
	require.Equal(t, http.StatusOK, code)
	// The action is the latest push's, the counts add up every push's
	// (a runtime-config change may have changed the action since).
	for _, want := range []string{"on the latest push", "rules chose", ">sum<", "since first seen, 2 dropped", "1 given a new value", "4 relabelled", "First conflicting example, at"} {
		require.Contains(t, body, want)
	}
}

func TestUIExplainsEachKind(t *testing.T) {
	s := report.NewStore(10, prometheus.NewRegistry())
	now := time.Now()
	lbls := map[string]string{"__name__": "up", "job": "api"}
	other := map[string]string{"__name__": "up", "job": "api", "pod": ""}
	for _, o := range []*report.Offender{
		{Metric: "m_within", Kind: "within_series", Example: report.Example{Labels: lbls, Values: []report.Value{1, 2}, Samples: []string{"1", "2"}}},
		{Metric: "m_across", Kind: "across_series", Example: report.Example{Labels: lbls, FirstLabels: other, Values: []report.Value{1, 2}, Samples: []string{"1", "2"}}},
		{Metric: "m_earlier", Kind: "across_requests", Example: report.Example{Labels: lbls, Values: []report.Value{report.Value(math.NaN()), report.Value(math.Float64frombits(value.StaleNaN))}, Samples: []string{"NaN", "stale marker"}}},
	} {
		o.Tenant, o.Origin, o.ConflictingSamples, o.FirstSeen, o.LastSeen, o.Action = "t", map[string]string{"job": "api"}, 1, now, now, "report"
		s.Record([]*report.Offender{o})
	}
	all, _ := s.ListAll(report.Filter{})
	require.Len(t, all, 3)
	ui := NewUIHandler(validator.AuthConfig{MultitenancyEnabled: true}, s, true, "pushguard-0", log.NewNopLogger())
	want := map[string]string{
		"within_series":   "The same TimeSeries entry carries this timestamp twice.",
		"across_series":   "The first sample and the repeating one, side by side",
		"across_requests": "The first sample went upstream in an earlier request",
	}
	for _, o := range all {
		code, body := get(t, ui, "/offender?tenant=t&id="+o.ID, nil)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, want[o.Kind], o.Kind)
		for kind, sentence := range want {
			if kind != o.Kind {
				require.NotContains(t, body, sentence, o.Kind)
			}
		}
		if o.Kind == "across_requests" {
			require.Contains(t, body, "first sample (earlier request)")
			require.Equal(t, 2, strings.Count(body, "not kept"), "the earlier series' labels are not known")
			require.NotContains(t, body, `class="differs"`)
			require.Contains(t, body, `<td class="lv">NaN</td><td class="lv">stale marker</td>`, "a stale marker is told apart from NaN")
		}
	}
}

// TestUIOriginFilter filters the HTML report by origin label values with
// spaces in them: each filter is a box of the form, and every link the
// page makes keeps them.
func TestUIOriginFilter(t *testing.T) {
	s := report.NewStore(10, prometheus.NewRegistry())
	now := time.Now()
	s.Record([]*report.Offender{
		{Tenant: "t", Metric: "wanted", Kind: "across_series", Origin: map[string]string{"job": "my job", "namespace": "shop"},
			ConflictingSamples: 1, FirstSeen: now, LastSeen: now, Action: "report"},
		{Tenant: "t", Metric: "other_job", Kind: "across_series", Origin: map[string]string{"job": "my", "namespace": "shop"},
			ConflictingSamples: 2, FirstSeen: now, LastSeen: now, Action: "report"},
	})
	ui := NewUIHandler(validator.AuthConfig{MultitenancyEnabled: true}, s, true, "pushguard-0", log.NewNopLogger())
	shows := func(t *testing.T, target string) {
		t.Helper()
		code, body := get(t, ui, target, nil)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `data-metric="wanted"`, target)
		require.NotContains(t, body, `data-metric="other_job"`, target)
	}

	// As the form sends it, its empty box included.
	form := url.Values{"origin": {"job=my job", "namespace=shop", ""}}
	shows(t, "/?"+form.Encode())
	_, page := get(t, ui, "/?"+form.Encode(), nil)
	require.Contains(t, page, `name="origin" value="job=my job"`)
	require.Contains(t, page, `name="origin" value="namespace=shop"`)
	require.Contains(t, page, `name="origin" value=""`, "an empty box for another filter")

	links := regexp.MustCompile(`href="(\?[^"]*)"`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, links)
	for _, l := range links {
		shows(t, "/"+html.UnescapeString(l[1]))
	}

	// The JSON reports take the same filter.
	code, body := get(t, NewAdminOffendersHandler(s, "pushguard-0"), "/admin/api/v1/offenders?origin=job%3Dmy%20job", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"metric":"wanted"`)
	require.NotContains(t, body, `"metric":"other_job"`)
}

func TestSortLink(t *testing.T) {
	order := func(q url.Values, column string) string {
		v, err := url.ParseQuery(strings.TrimPrefix(sortLink(q, column), "?"))
		require.NoError(t, err)
		require.Equal(t, column, v.Get("sort"))
		require.Equal(t, "kube", v.Get("metric"), "filters are kept")
		return v.Get("order")
	}
	q := url.Values{"metric": {"kube"}}
	require.Equal(t, "asc", order(q, "metric"), "names sort A to Z first")
	require.Equal(t, "desc", order(q, "conflicting"), "counts sort the largest first")
	require.Equal(t, "desc", order(q, "last_seen"), "times sort the latest first")
	q.Set("sort", "metric")
	q.Set("order", "asc")
	require.Equal(t, "desc", order(q, "metric"), "a second click flips")
	q.Set("sort", "conflicting")
	q.Del("order")
	require.Equal(t, "asc", order(q, "conflicting"))
}

// TestUIShowsBidiControls: a label value with a right-to-left override
// would show reversed ("gnp.exe" as "exe.png"); the page writes the
// control out instead.
func TestUIShowsBidiControls(t *testing.T) {
	s := report.NewStore(10, prometheus.NewRegistry())
	now := time.Now()
	s.Record([]*report.Offender{{Tenant: "t", Metric: "up", Kind: "across_series", Origin: map[string]string{"job": "x\u202egnp.exe"},
		ConflictingSamples: 1, FirstSeen: now, LastSeen: now, Action: "report"}})
	ui := NewUIHandler(validator.AuthConfig{MultitenancyEnabled: true}, s, true, "pushguard-0", log.NewNopLogger())
	code, body := get(t, ui, "/", nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, "\u202e")
	require.Contains(t, body, "x&lt;U+202E&gt;gnp.exe")
}
