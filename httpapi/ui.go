package httpapi

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/pushguard/pushguard/validator"
	"github.com/pushguard/pushguard/validator/report"
)

//go:embed templates/*.html static/*
var uiFiles embed.FS

// UI paths.
const (
	UIOffenderPath = "/offender"
	UIStaticPrefix = "/static/"
)

// contentSecurityPolicy allows the page its own embedded files and nothing
// else: label values are untrusted, and even if one slipped past escaping
// the browser would not run it or load anything from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var uiTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"since":     since,
	"timestamp": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ms":        func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") },
	"sparkline": sparkline,
	"total": func(xs []uint32) uint64 {
		var n uint64
		for _, x := range xs {
			n += uint64(x)
		}
		return n
	},
	"origin":   originString,
	"hint":     hintFor,
	"sortLink": sortLink,
}).ParseFS(uiFiles, "templates/*.html"))

type uiHandler struct {
	auth     validator.AuthConfig
	store    *report.Store
	admin    bool
	instance string
	logger   log.Logger
	now      func() time.Time
	static   http.Handler
}

// NewUIHandler serves the HTML report: the offender table at /, one
// offender's detail at /offender and the embedded assets under /static/.
// With admin true it shows every tenant (an operator view that belongs
// behind the operator's auth); otherwise only the X-Scope-OrgID tenant's.
// Every page names this replica, instance, in its footer. Every page
// renders without JavaScript.
func NewUIHandler(auth validator.AuthConfig, store *report.Store, admin bool, instance string, logger log.Logger) http.Handler {
	static, _ := fs.Sub(uiFiles, "static")
	return &uiHandler{
		auth: auth, store: store, admin: admin, instance: instance, logger: logger, now: time.Now,
		static: http.StripPrefix(UIStaticPrefix, http.FileServer(http.FS(static))),
	}
}

func (h *uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch {
	case strings.HasPrefix(r.URL.Path, UIStaticPrefix):
		h.static.ServeHTTP(w, r)
	case r.URL.Path == UIOffenderPath:
		h.offender(w, r)
	case r.URL.Path == "/":
		h.list(w, r)
	default:
		http.NotFound(w, r)
	}
}

// scope returns the tenant a non-admin page is limited to.
func (h *uiHandler) scope(r *http.Request) (string, error) {
	if h.admin {
		return "", nil
	}
	return h.auth.Tenant(r.Header.Get("X-Scope-OrgID"))
}

// Frame is what every page's frame shows: whether it is the operator view,
// and the replica it is served by.
type Frame struct {
	Admin    bool
	Instance string
}

func (h *uiHandler) frame() Frame { return Frame{Admin: h.admin, Instance: h.instance} }

type listPage struct {
	Frame
	Scope     string
	Stats     report.StoreStats
	Offenders []report.Offender
	Shown     int
	Matching  int
	Evicted   int64
	Query     url.Values
	Sort      string
	Desc      bool
	Kinds     []string
	// Origins are the origin filters, one name=value each, as given: the
	// form shows each in a box of its own, and an empty box for another.
	Origins []string
	Now     time.Time
	// TenantOptions are the admin form's tenants.
	TenantOptions []string
	// Error says why the filters could not be read.
	Error string
}

const maxRows = 500

func (h *uiHandler) list(w http.ResponseWriter, r *http.Request) {
	scope, err := h.scope(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	page := listPage{
		Frame: h.frame(), Scope: scope, Stats: h.store.Stats(), Query: q, Now: h.now(),
		Kinds:   validator.KindNames(),
		Origins: nonEmpty(q["origin"]),
		Sort:    q.Get("sort"),
		Desc:    q.Get("order") != "asc",
	}
	page.TenantOptions = page.Stats.Tenants
	if t := q.Get("tenant"); h.admin && t != "" && !slices.Contains(page.TenantOptions, t) {
		// A tenant the report forgot (all its offenders evicted) stays
		// selected, so that the page says which tenant it shows.
		page.TenantOptions = append(slices.Clone(page.TenantOptions), t)
	}
	if !h.admin {
		// The scoped page says nothing of other tenants' reports.
		page.Stats.Tenants = []string{scope}
		page.Stats.Offenders = h.store.Count(scope)
	}
	f, err := parseFilter(r)
	if err == nil && h.admin {
		f.Tenant, err = adminTenant(q)
	}
	if err != nil {
		// The page with its form, to put the filter right.
		page.Error = validator.Public(err).Error()
		h.renderStatus(w, statusOf(err), "report.html", page)
		return
	}
	limit := f.Limit
	f.Limit = 0
	if h.admin {
		page.Offenders, page.Evicted = h.store.ListAll(f)
	} else {
		page.Offenders, page.Evicted = h.store.List(scope, f)
	}
	sortOffenders(page.Offenders, page.Sort, page.Desc)
	page.Matching = len(page.Offenders)
	if limit <= 0 || limit > maxRows {
		limit = maxRows
	}
	if len(page.Offenders) > limit {
		page.Offenders = page.Offenders[:limit]
	}
	page.Shown = len(page.Offenders)
	h.render(w, "report.html", page)
}

type detailPage struct {
	Frame
	O    report.Offender
	Rows []labelRow
	Same bool
	// Earlier is set for across_requests: the first sample went upstream
	// in an earlier request, and only its value was kept.
	Earlier  bool
	Now      time.Time
	Conflict bool
}

// labelRow is one label of the example, in the first and the repeating
// series side by side.
type labelRow struct {
	Name, First, Repeat string
	Differs             bool
}

func (h *uiHandler) offender(w http.ResponseWriter, r *http.Request) {
	scope, err := h.scope(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	tenant := q.Get("tenant")
	if !h.admin {
		tenant = scope
	}
	o, ok := h.store.Get(tenant, q.Get("id"))
	if !ok {
		h.renderStatus(w, http.StatusNotFound, "notfound.html", h.frame())
		return
	}
	page := detailPage{Frame: h.frame(), O: o, Now: h.now(), Conflict: o.ConflictingSamples > 0}
	page.Rows, page.Same = labelRows(o.Example)
	if page.Earlier = o.Kind == validator.AcrossRequests.String(); page.Earlier {
		for i := range page.Rows {
			page.Rows[i].First, page.Rows[i].Differs = "", false
		}
	}
	h.render(w, "offender.html", page)
}

// labelRows lines up the labels of the example's first and repeating
// series, flagging the ones that differ.
func labelRows(ex report.Example) ([]labelRow, bool) {
	first := ex.FirstLabels
	same := first == nil
	if same {
		first = ex.Labels
	}
	names := map[string]struct{}{}
	for n := range ex.Labels {
		names[n] = struct{}{}
	}
	for n := range first {
		names[n] = struct{}{}
	}
	rows := make([]labelRow, 0, len(names))
	for n := range names {
		rows = append(rows, labelRow{Name: n, First: first[n], Repeat: ex.Labels[n], Differs: first[n] != ex.Labels[n]})
	}
	sort.Slice(rows, func(i, j int) bool {
		// __name__ first, as Prometheus prints series.
		if (rows[i].Name == "__name__") != (rows[j].Name == "__name__") {
			return rows[i].Name == "__name__"
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, same
}

func (h *uiHandler) render(w http.ResponseWriter, name string, data any) {
	h.renderStatus(w, http.StatusOK, name, data)
}

// renderStatus answers the page name with status code.
func (h *uiHandler) renderStatus(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := uiTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		level.Error(h.logger).Log("msg", "rendering report page", "page", name, "err", err)
		writeError(w, validator.NewError(validator.ErrIDInternal, validator.CauseInternal, err, "rendering %s", name))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(showBidiControls(buf.Bytes()))
}

// textColumns are the columns sorted by name.
var textColumns = map[string]bool{"tenant": true, "metric": true, "kind": true, "origin": true}

// bidiControls are the invisible characters that reorder the text around
// them (marks, embeddings, overrides, isolates).
const bidiControls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

// showBidiControls writes the bidi controls of a rendered page, which come
// from senders' label values, as <U+202E> and the like: a value carrying
// one would otherwise show reversed, and a person would copy from the page
// a value that is not the one stored.
func showBidiControls(page []byte) []byte {
	if !bytes.ContainsAny(page, bidiControls) {
		return page
	}
	var out bytes.Buffer
	for _, r := range string(page) {
		if strings.ContainsRune(bidiControls, r) {
			fmt.Fprintf(&out, "&lt;U+%04X&gt;", r)
			continue
		}
		out.WriteRune(r)
	}
	return out.Bytes()
}

// sortOffenders orders the table by a column the reader clicked; the
// store's order (most conflicting first) is the default.
func sortOffenders(os []report.Offender, by string, desc bool) {
	var c func(a, b *report.Offender) int
	switch by {
	case "tenant":
		c = func(a, b *report.Offender) int { return cmp.Compare(a.Tenant, b.Tenant) }
	case "metric":
		c = func(a, b *report.Offender) int { return cmp.Compare(a.Metric, b.Metric) }
	case "kind":
		c = func(a, b *report.Offender) int { return cmp.Compare(a.Kind, b.Kind) }
	case "origin":
		c = func(a, b *report.Offender) int { return cmp.Compare(originString(a.Origin), originString(b.Origin)) }
	case "identical":
		c = func(a, b *report.Offender) int { return cmp.Compare(a.IdenticalSamples, b.IdenticalSamples) }
	case "last_seen":
		c = func(a, b *report.Offender) int { return a.LastSeen.Compare(b.LastSeen) }
	case "conflicting":
		c = func(a, b *report.Offender) int { return cmp.Compare(a.ConflictingSamples, b.ConflictingSamples) }
	default:
		return
	}
	slices.SortStableFunc(os, func(a, b report.Offender) int {
		if desc {
			return c(&b, &a)
		}
		return c(&a, &b)
	})
}

// sortLink returns the query string that sorts the table by column,
// keeping the filters, and flips the order when it is already sorted so.
// Names sort A to Z first, counts and times the largest and latest first.
func sortLink(q url.Values, column string) string {
	n := url.Values{}
	for k, v := range q {
		n[k] = v
	}
	first, then := "desc", "asc"
	if textColumns[column] {
		first, then = then, first
	}
	order := first
	if q.Get("sort") == column && cmp.Or(q.Get("order"), "desc") == first {
		order = then
	}
	n.Set("sort", column)
	n.Set("order", order)
	return "?" + n.Encode()
}

// nonEmpty returns the values that are not blank.
func nonEmpty(values []string) []string {
	var out []string
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

func originString(origin map[string]string) string {
	names := make([]string, 0, len(origin))
	for n := range origin {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + strconv.Quote(origin[n])
	}
	return strings.Join(parts, ", ")
}

func since(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// sparkline returns the points of an SVG polyline of counts drawn in a
// width x height box, the highest count touching the top.
func sparkline(counts []uint32, width, height int) string {
	if len(counts) < 2 {
		return ""
	}
	var peak uint32 = 1
	for _, c := range counts {
		peak = max(peak, c)
	}
	var b strings.Builder
	for i, c := range counts {
		x := float64(i) * float64(width) / float64(len(counts)-1)
		y := float64(height-1) - float64(c)*float64(height-2)/float64(peak)
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	return b.String()
}
