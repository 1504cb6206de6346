// Package natstest starts real, in-process NATS servers for tests: a single
// server, or a cluster of servers joined by routes. Servers listen on
// random loopback ports and are shut down by t.Cleanup. Restart brings a
// server back on the same ports, for reconnect tests.
//
// It is meant for the framework's own tests and for the tests of apps
// built with mega.
package natstest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/megaframework/mega/internal/testkit"
)

// ClusterName is the cluster name used by StartCluster.
const ClusterName = "mega-test"

const (
	readyTimeout   = 10 * time.Second // server accepting clients
	routesTimeout  = 10 * time.Second // cluster routes formed
	routesSettle   = 50 * time.Millisecond
	restartTimeout = 5 * time.Second // retrying to bind the old ports
	restartPause   = 50 * time.Millisecond
)

// cluster is the shared state of the servers of one StartCluster call.
type cluster struct {
	mu      sync.Mutex
	members []*server.Server // current server of each member
	addrs   []string         // fixed route URL of each member
}

// entry remembers how a server was started, so Restart can start an
// identical one.
type entry struct {
	opts    *server.Options // template with the resolved (fixed) ports
	cluster *cluster        // nil for a single server
	index   int             // position in cluster.members
}

var registry sync.Map // *server.Server -> *entry

// StartServer starts a single NATS server on 127.0.0.1 with a random client
// port and waits until it accepts connections. t.Cleanup shuts it down and
// waits for it to stop.
func StartServer(t testing.TB) *server.Server {
	t.Helper()
	s := start(t, baseOptions(""))
	tmpl := baseOptions("")
	tmpl.Port = clientPort(s)
	registry.Store(s, &entry{opts: tmpl})
	return s
}

// StartJetStream starts a single NATS server like StartServer, with
// JetStream on and its files in dir (a fresh t.TempDir() when dir is
// empty). Restart keeps the options, dir included, so streams survive it.
func StartJetStream(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	opts := baseOptions("")
	opts.JetStream, opts.StoreDir = true, dir
	s := start(t, opts)
	tmpl := opts.Clone()
	tmpl.Port = clientPort(s)
	registry.Store(s, &entry{opts: tmpl})
	return s
}

// StartCluster starts n NATS servers on 127.0.0.1 joined by routes into the
// cluster "mega-test", each with random client and cluster ports. It
// returns once every server has a route to each of the n-1 others, and
// fails the test if the cluster has not formed within about 10s.
// t.Cleanup shuts all servers down.
func StartCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest.StartCluster: n must be at least 1, got %d", n)
	}
	c := &cluster{}
	servers := make([]*server.Server, 0, n)
	for i := range n {
		opts := clusterOptions(i, 0, c.addrs)
		s := start(t, opts)
		addr := s.ClusterAddr()
		if addr == nil {
			t.Fatalf("natstest.StartCluster: server %d has no cluster listener", i+1)
		}
		servers = append(servers, s)
		c.members = append(c.members, s)
		c.addrs = append(c.addrs, routeURL(addr.Port))
	}
	// Remember every member with fixed ports and routes to all the others,
	// so a restarted member rejoins whichever of them is up.
	for i, s := range servers {
		tmpl := clusterOptions(i, s.ClusterAddr().Port, others(c.addrs, i))
		tmpl.Port = clientPort(s)
		registry.Store(s, &entry{opts: tmpl, cluster: c, index: i})
	}
	waitRoutes(t, c, routesTimeout)
	return servers
}

// URL returns the client URL of s, such as nats://127.0.0.1:41234.
func URL(s *server.Server) string {
	return s.ClientURL()
}

// Restart shuts s down, waits for it to stop, and starts a new server with
// the same options on the same client port (and, for a cluster member, the
// same cluster port and routes). It returns the new server; connected
// clients see a disconnect and then reconnect to it. For a cluster member
// it waits until the new server has routes to every other running member.
// s must have been started by this package.
func Restart(t testing.TB, s *server.Server) *server.Server {
	t.Helper()
	return restart(t, s, false)
}

// RestartLosingStore is Restart for a server whose disk was lost: its
// JetStream files are deleted before it starts again, so its streams are
// gone (StartJetStream).
func RestartLosingStore(t testing.TB, s *server.Server) *server.Server {
	t.Helper()
	return restart(t, s, true)
}

func restart(t testing.TB, s *server.Server, wipe bool) *server.Server {
	t.Helper()
	v, ok := registry.Load(s)
	if !ok {
		t.Fatalf("natstest.Restart: server %s was not started by natstest (or was already restarted)", s.ClientURL())
	}
	e := v.(*entry)
	registry.Delete(s)
	s.Shutdown()
	s.WaitForShutdown()
	if wipe && e.opts.StoreDir != "" {
		if err := os.RemoveAll(e.opts.StoreDir); err != nil {
			t.Fatalf("natstest.RestartLosingStore: %v", err)
		}
	}

	// The old listeners are closed, but retry in case the OS is slow to
	// release the ports.
	var ns *server.Server
	var err error
	if _, ok := testkit.PollEvery(restartTimeout, restartPause, func() bool {
		ns, err = tryStart(e.opts.Clone())
		return err == nil
	}); !ok {
		t.Fatalf("natstest.Restart: cannot restart server on port %d: %v", e.opts.Port, err)
	}
	t.Cleanup(func() { shutdown(ns) })
	registry.Store(ns, e)

	if c := e.cluster; c != nil {
		c.mu.Lock()
		c.members[e.index] = ns
		c.mu.Unlock()
		waitRoutes(t, c, routesTimeout)
	}
	return ns
}

// WaitFor calls cond until it returns true, and fails the test with
// "timed out after <timeout> waiting for <what>" if it does not within
// timeout. The first calls come a millisecond apart, later ones up to 10ms.
// Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, cond)
}

func baseOptions(name string) *server.Options {
	return &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: server.MAX_PAYLOAD_SIZE,
	}
}

// clusterOptions returns the options of member i. clusterPort 0 means a
// random cluster port. Route pooling is disabled so each pair of servers
// has exactly one route and NumRoutes counts peers.
func clusterOptions(i, clusterPort int, routes []string) *server.Options {
	opts := baseOptions(fmt.Sprintf("%s-%d", ClusterName, i+1))
	if clusterPort == 0 {
		clusterPort = server.RANDOM_PORT
	}
	opts.Cluster = server.ClusterOpts{
		Name:     ClusterName,
		Host:     "127.0.0.1",
		Port:     clusterPort,
		PoolSize: -1,
	}
	if len(routes) > 0 {
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	return opts
}

func routeURL(port int) string {
	return fmt.Sprintf("nats-route://127.0.0.1:%d", port)
}

func others(all []string, skip int) []string {
	out := make([]string, 0, len(all))
	for i, a := range all {
		if i != skip {
			out = append(out, a)
		}
	}
	return out
}

func clientPort(s *server.Server) int {
	return s.Addr().(*net.TCPAddr).Port
}

// start starts a server from opts (which it consumes) or fails the test;
// t.Cleanup shuts it down.
func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := tryStart(opts)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() { shutdown(s) })
	return s
}

// tryStart starts a server and waits until it accepts clients (and has its
// cluster listener, if any).
func tryStart(opts *server.Options) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot configure nats-server: %w", err)
	}
	l := &failLogger{}
	s.SetLogger(l, false, false)
	s.Start()
	// Poll in short steps so that a fatal start error (port in use) fails
	// at once instead of after the whole timeout.
	deadline := time.Now().Add(readyTimeout)
	for !s.ReadyForConnections(25 * time.Millisecond) {
		if msg := l.get(); msg != "" {
			shutdown(s)
			return nil, fmt.Errorf("nats-server did not start: %s", msg)
		}
		if time.Now().After(deadline) {
			shutdown(s)
			return nil, fmt.Errorf("nats-server not ready for connections after %s", readyTimeout)
		}
	}
	return s, nil
}

func shutdown(s *server.Server) {
	registry.Delete(s)
	s.Shutdown()
	s.WaitForShutdown()
}

// waitRoutes waits until every running member of c has a route to every
// other running member.
func waitRoutes(t testing.TB, c *cluster, timeout time.Duration) {
	t.Helper()
	formed := func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		var running []*server.Server
		for _, s := range c.members {
			if s.Running() {
				running = append(running, s)
			}
		}
		ok := true
		counts := make([]string, 0, len(running))
		for _, s := range running {
			nr := s.NumRoutes()
			counts = append(counts, fmt.Sprintf("%s=%d", s.Name(), nr))
			if nr != len(running)-1 {
				ok = false
			}
		}
		return ok, fmt.Sprintf("%d running servers, routes per server: %s", len(running), strings.Join(counts, " "))
	}
	// Right after a mesh forms, two servers that dialled each other at the
	// same moment may both drop the duplicate route and dial again, so the
	// counts must hold for a short settle period, not just once.
	var stableSince time.Time
	var state string
	if _, ok := testkit.PollEvery(timeout, time.Millisecond, func() bool {
		var ok bool
		ok, state = formed()
		switch {
		case !ok:
			stableSince = time.Time{}
		case stableSince.IsZero():
			stableSince = time.Now()
		case time.Since(stableSince) >= routesSettle:
			return true
		}
		return false
	}); !ok {
		t.Fatalf("natstest: cluster %q did not form within %s (%s)", ClusterName, timeout, state)
	}
}

// failLogger keeps a server's fatal message (such as "cannot listen on
// port") so that a failed start can say why. Everything else is dropped.
type failLogger struct {
	mu  sync.Mutex
	msg string
}

func (l *failLogger) Fatalf(format string, v ...any) {
	l.mu.Lock()
	l.msg = fmt.Sprintf(format, v...)
	l.mu.Unlock()
}

func (l *failLogger) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}

func (*failLogger) Noticef(string, ...any) {}
func (*failLogger) Warnf(string, ...any)   {}
func (*failLogger) Errorf(string, ...any)  {}
func (*failLogger) Debugf(string, ...any)  {}
func (*failLogger) Tracef(string, ...any)  {}
