package tests

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const chromiumPath = "/usr/bin/chromium"

// xssMarker is what an injected script would do: mark the document. The
// report's own script marks it data-report-js="ran" instead, which proves
// scripts do run in the page under test.
const xssMarker = `document.documentElement.setAttribute('data-xss','ran')`

// chromium runs Debian's headless chromium once on a loopback URL with a
// fresh profile and returns its stdout.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,900",
	}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return string(out)
}

func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), "only loopback pages are loaded")
	return chromium(t, "--dump-dom", url)
}

// TestBrowserReport drives the HTML report in a real browser: it lists the
// kube-state-metrics offender, filters by tenant and metric, opens the
// detail view, and shows hostile label values as text without running them.
func TestBrowserReport(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("PUSHGUARD_REQUIRE_BROWSER") != "" {
			t.Fatalf("%s missing: .ci/run installs Debian's chromium", chromiumPath)
		}
		t.Skipf("%s missing (apt-get install chromium); .ci/run installs it", chromiumPath)
	}
	inst := startPushguard(t)
	at := time.Now().Truncate(time.Second)
	pushSeries(t, inst, "demo", map[string]string{"User-Agent": "Prometheus/3.1.0"}, nil, ksmJobFailed(1, at), ksmJobFailed(0, at))
	evil := func(v float64) []string {
		return []string{"__name__", "evil_metric", "job", `<img src=x onerror="` + xssMarker + `">`,
			"payload", "<script>alert(1)</script>", "other", `</td><script>` + xssMarker + `</script>`}
	}
	pushSeries(t, inst, "mallory", nil, nil, ts(1, at, evil(1)...), ts(2, at, evil(2)...))

	// The control: the same payload on a page that does not escape it runs,
	// so a missing marker below means escaping worked, not a blind check.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><table><tr><td>%s</td></tr></table></body></html>`, `</td><script>`+xssMarker+`</script>`)
	}))
	defer control.Close()
	require.Contains(t, dumpDOM(t, control.URL), `data-xss="ran"`, "the XSS detector must be able to fire")

	// Every tenant, every offender, the page's own script ran and nothing else.
	dom := dumpDOM(t, inst.url("/"))
	require.Contains(t, dom, `data-report-js="ran"`)
	require.NotContains(t, dom, `data-xss="ran"`)
	require.Contains(t, dom, `data-metric="kube_job_status_failed"`)
	require.Contains(t, dom, `data-metric="evil_metric"`)
	require.Contains(t, dom, `&lt;img src=x onerror=`, "the hostile job label shows as text")

	// Filtered by tenant and metric.
	dom = dumpDOM(t, inst.url("/?tenant=demo&metric=kube_job_status_failed"))
	require.Contains(t, dom, `data-metric="kube_job_status_failed"`)
	require.NotContains(t, dom, `data-metric="evil_metric"`)
	evilDOM := dumpDOM(t, inst.url("/?metric=evil_metric"))
	require.NotContains(t, evilDOM, `data-metric="kube_job_status_failed"`)

	// Open the detail view through the table's link.
	link := regexp.MustCompile(`href="(/offender\?[^"]+)"`).FindStringSubmatch(dom)
	require.NotNil(t, link, dom)
	detailURL := inst.url(html.UnescapeString(link[1]))
	dom = dumpDOM(t, detailURL)
	require.Contains(t, dom, "without the label that tells them apart", "the kube-state-metrics hint")
	require.Contains(t, dom, "renovate-28883520")
	require.Contains(t, dom, `class="values differs"`, "the conflicting values are highlighted")

	// The hostile offender's detail view: text, not markup.
	link = regexp.MustCompile(`href="(/offender\?[^"]+)"`).FindStringSubmatch(evilDOM)
	require.NotNil(t, link, evilDOM)
	dom = dumpDOM(t, inst.url(html.UnescapeString(link[1])))
	require.Contains(t, dom, `data-report-js="ran"`)
	require.NotContains(t, dom, `data-xss="ran"`)
	require.Contains(t, dom, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, dom, "<script>alert(1)")

	// Screenshots a person can look at.
	dir := os.Getenv("PUSHGUARD_SCREENSHOT_DIR")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "pushguard-report-")
		require.NoError(t, err)
	}
	for name, url := range map[string]string{"report.png": inst.url("/"), "offender.png": detailURL} {
		path := filepath.Join(dir, name)
		chromium(t, "--hide-scrollbars", "--screenshot="+path, url)
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Positive(t, st.Size())
		t.Logf("screenshot: %s", path)
		fmt.Fprintf(os.Stderr, "report screenshot written to %s\n", path)
	}
}
