package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// instanceAddrFlag matches every flag with which a Mimir component
// advertises its address to the others.
var instanceAddrFlag = regexp.MustCompile(`(?m)^\s+-([a-z0-9.-]+\.instance-addr) `)

// MimirArgs returns the flags that run the Mimir binary bin as one process
// on loopback, with its state under dir. Every listening and advertised
// address is pinned to 127.0.0.1: left alone, Mimir advertises the
// machine's interface address to its own components.
func MimirArgs(bin, dir string, httpPort, grpcPort, gossipPort int) ([]string, error) {
	help, _ := exec.Command(bin, "-help-all").CombinedOutput()
	var pinned []string
	for _, m := range instanceAddrFlag.FindAllStringSubmatch(string(help), -1) {
		pinned = append(pinned, "-"+m[1]+"=127.0.0.1")
	}
	sort.Strings(pinned)
	if len(pinned) < 3 {
		return nil, fmt.Errorf("found only %d -*.instance-addr flags in %s -help-all:\n%s", len(pinned), bin, help)
	}
	return append([]string{
		"-target=all",
		"-log.level=warn",
		"-usage-stats.enabled=false",
		"-server.http-listen-address=127.0.0.1",
		fmt.Sprintf("-server.http-listen-port=%d", httpPort),
		"-server.grpc-listen-address=127.0.0.1",
		fmt.Sprintf("-server.grpc-listen-port=%d", grpcPort),
		"-memberlist.bind-addr=127.0.0.1",
		fmt.Sprintf("-memberlist.bind-port=%d", gossipPort),
		"-memberlist.advertise-addr=127.0.0.1",
		fmt.Sprintf("-memberlist.advertise-port=%d", gossipPort),
		"-ingester.ring.replication-factor=1",
		"-ingester.ring.min-ready-duration=0s",
		"-ingester.ring.final-sleep=0s",
		"-common.storage.backend=filesystem",
		"-common.storage.filesystem.dir=" + filepath.Join(dir, "bucket"),
		"-blocks-storage.storage-prefix=blocks",
		"-blocks-storage.tsdb.dir=" + filepath.Join(dir, "tsdb"),
		"-blocks-storage.bucket-store.sync-dir=" + filepath.Join(dir, "tsdb-sync"),
		"-compactor.data-dir=" + filepath.Join(dir, "compactor"),
		"-ruler.rule-path=" + filepath.Join(dir, "rules"),
		"-activity-tracker.filepath=" + filepath.Join(dir, "activity.log"),
	}, pinned...), nil
}

// StartMimir starts the Mimir binary bin as MimirArgs has it, with its
// state under dir and the extra flags, on free loopback ports, and returns
// it once /ready answers, with its HTTP and gRPC addresses. client is nil
// for a Mimir serving plain HTTP; for one given -server.http-tls-* in extra
// it is a client that Mimir's TLS takes, and /ready is asked over https.
func StartMimir(bin, dir string, client *http.Client, extra ...string) (p *Process, addr, grpcAddr string, err error) {
	var ports [3]int
	for i := range ports {
		if ports[i], err = ListenablePort(); err != nil {
			return nil, "", "", err
		}
	}
	args, err := MimirArgs(bin, dir, ports[0], ports[1], ports[2])
	if err != nil {
		return nil, "", "", err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	grpcAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	scheme := "https"
	if client == nil {
		client, scheme = http.DefaultClient, "http"
	}
	p, err = StartProcessWith(client, "mimir", bin, scheme+"://"+addr+"/ready", 3*time.Minute, append(args, extra...)...)
	return p, addr, grpcAddr, err
}
