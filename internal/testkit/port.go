package testkit

import (
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// lowestPort is where FreePorts starts looking: above the well-known and
// most registered service ports.
const lowestPort = 20000

// FreePort returns a TCP port nothing listens on right now (on any
// interface) and that is none of avoid (ports the test has handed out but
// not bound yet). It is picked below the kernel's ephemeral range when
// there is room: ports from that range are handed to every outgoing
// connection and every listener on port 0 on the machine (a browser's,
// NATS's, other tests'), so one picked there can be taken before the test
// binds it, or while a server restarts on it. The port was free a moment
// ago; nothing reserves it.
func FreePort(t testing.TB, avoid ...int) int {
	t.Helper()
	return FreePorts(t, 1, avoid...)
}

// FreePorts returns the first of n consecutive TCP ports that are all free
// right now and none of avoid, picked like FreePort: for a server that
// listens on port, port+1, … (one per instance).
func FreePorts(t testing.TB, n int, avoid ...int) int {
	t.Helper()
	if n < 1 {
		t.Fatalf("testkit.FreePorts: n must be at least 1, got %d", n)
	}
	lo, hi := lowestPort, ephemeralLow()
	if hi-lo < 1000+n {
		// No room below the ephemeral range: anywhere above the
		// privileged ports.
		lo, hi = 1024, 65536
	}
	for range 200 {
		base := lo + rand.IntN(hi-lo-n+1)
		if free(base, n, avoid) {
			return base
		}
	}
	t.Fatalf("testkit.FreePorts: no %d free consecutive ports in [%d, %d)", n, lo, hi)
	return 0
}

// free reports whether ports base to base+n-1 are none of avoid and can be
// listened on, on all interfaces as a server does.
func free(base, n int, avoid []int) bool {
	for p := base; p < base+n; p++ {
		if slices.Contains(avoid, p) {
			return false
		}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return 32768
}
