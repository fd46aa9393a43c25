package httpapi

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/grafana/dskit/flagext"
)

// ReportConfig configures the offender report's HTTP side.
type ReportConfig struct {
	AdminEnabled   bool                   `yaml:"admin_enabled"`
	TrustedProxies flagext.StringSliceCSV `yaml:"trusted_proxies"`
	InstanceID     string                 `yaml:"instance_id"`

	proxies []netip.Prefix
}

// RegisterFlags registers the report flags.
func (cfg *ReportConfig) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&cfg.AdminEnabled, "report.admin-enabled", true, "Serve the operator view of every tenant's offenders: the HTML report at / and the JSON at /admin/api/v1/offenders. Like Mimir's admin pages they carry no authentication of their own: put them behind your proxy's auth. When false, / shows only the X-Scope-OrgID tenant's offenders.")
	f.StringVar(&cfg.InstanceID, "report.instance-id", "", "Name of this replica in its reports (the HTML report's footer, instance in the JSON and in gRPC ListOffenders): each replica reports only the pushes it took. Empty means the hostname, which in Kubernetes is the pod's name.")
	f.Var(&cfg.TrustedProxies, "report.trusted-proxies", "Comma-separated addresses or CIDR ranges of proxies whose X-Forwarded-For header names the sender in reports. Pushes from any other peer are reported with the peer's own address.")
}

// Validate checks the configuration, parses the proxy ranges and names
// the instance after the host unless it is named.
func (cfg *ReportConfig) Validate() error {
	if cfg.InstanceID == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("-report.instance-id is empty and the hostname is unknown: %w", err)
		}
		cfg.InstanceID = host
	}
	cfg.proxies = cfg.proxies[:0]
	for _, s := range cfg.TrustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("invalid -report.trusted-proxies entry %q: %w", s, err)
			}
			cfg.proxies = append(cfg.proxies, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("invalid -report.trusted-proxies entry %q: %w", s, err)
		}
		cfg.proxies = append(cfg.proxies, p.Masked())
	}
	return nil
}

func (cfg *ReportConfig) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range cfg.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// SenderAddress returns the address of the sender of r: the peer, or, while
// the peer is a trusted proxy, the X-Forwarded-For entry in front of it.
// X-Forwarded-For is read from the right so that a sender cannot name
// itself by forging the header: only entries appended by trusted proxies
// are believed. Call Validate first.
func (cfg *ReportConfig) SenderAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !cfg.trusted(peer) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	addr := host
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			// Garbage in the chain: stop at the last address we could check.
			return addr
		}
		addr = a.Unmap().String()
		if !cfg.trusted(a) {
			return addr
		}
	}
	return addr
}
