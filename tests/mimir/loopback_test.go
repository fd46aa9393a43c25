package mimir

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// socket is one of a process' sockets, from /proc.
type socket struct {
	proto         string
	local, remote net.IP
	listening     bool
}

func (s socket) String() string {
	return fmt.Sprintf("%s %s -> %s listen=%v", s.proto, s.local, s.remote, s.listening)
}

// processSockets returns the TCP and UDP sockets pid holds, read from
// /proc/<pid>/fd and /proc/<pid>/net/{tcp,tcp6,udp,udp6}.
func processSockets(t *testing.T, pid int) []socket {
	t.Helper()
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	require.NoError(t, err)
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []socket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
		require.NoError(t, err)
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			out = append(out, socket{
				proto:     proto,
				local:     procIP(t, f[1]),
				remote:    procIP(t, f[2]),
				listening: (strings.HasPrefix(proto, "tcp") && f[3] == "0A") || (strings.HasPrefix(proto, "udp") && f[3] == "07"),
			})
		}
	}
	return out
}

// procIP decodes the address part of /proc/net's "ADDR:PORT", written as
// 32-bit words in host (little-endian) order.
func procIP(t *testing.T, s string) net.IP {
	t.Helper()
	addr, _, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(addr)
	require.NoError(t, err)
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b)
}

// TestMimirOnlyUsesLoopback proves the pinning: after Mimir has taken
// pushes and queries, every socket it holds is bound to a loopback address,
// and every connection it has goes to one.
func TestMimirOnlyUsesLoopback(t *testing.T) {
	m := startMimir(t)
	// Traffic first, so that the distributor, ingester and querier clients
	// have dialled whatever they advertise.
	straightIntoMimir(t, m, "loopback")

	socks := processSockets(t, m.Cmd.Process.Pid)
	require.NotEmpty(t, socks)
	listening := 0
	for _, s := range socks {
		require.True(t, s.local.IsLoopback(), "Mimir socket not on loopback: %s", s)
		if s.listening {
			listening++
			continue
		}
		if !s.remote.IsUnspecified() {
			require.True(t, s.remote.IsLoopback(), "Mimir connection leaves loopback: %s", s)
		}
	}
	require.GreaterOrEqual(t, listening, 3, "HTTP, gRPC and memberlist listen: %v", socks)
	t.Logf("%d sockets, %d listening, all on loopback", len(socks), listening)
}
