package cluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

const (
	testTTL  = 400 * time.Millisecond
	testSync = 100 * time.Millisecond
	ns       = "/ws/chat"
	wait     = 10 * time.Second // generous deadline for conditions that should hold much sooner
)

// leakCheck verifies, after every other cleanup (servers included), that
// the test left no goroutine behind.
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// client is a hub.Client that records every frame it gets.
type client struct {
	mu     sync.Mutex
	frames []string
	block  chan struct{} // when not nil, Send waits for it to be closed
}

func (c *client) Send(f []byte) {
	if c.block != nil {
		<-c.block
	}
	c.mu.Lock()
	c.frames = append(c.frames, string(f))
	c.mu.Unlock()
}

// count returns how many frames equal f.
func (c *client) count(f string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, g := range c.frames {
		if g == f {
			n++
		}
	}
	return n
}

// hasPrefix reports whether a frame starting with p arrived.
func (c *client) hasPrefix(p string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.frames {
		if strings.HasPrefix(g, p) {
			return true
		}
	}
	return false
}

// node is one app instance: a NATS connection, a real hub and its cluster.
type node struct {
	name string
	nc   *nats.Conn
	hub  *hub.Hub
	cl   *cluster.Cluster

	mu     sync.Mutex
	events []hub.Event
	conns  map[string]*hub.Conn // by session id
}

func testLogger(t *testing.T, name string) zerolog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Str("node", name).Logger().Level(zerolog.DebugLevel)
}

// newNode connects to url and creates (but does not start) a cluster.
func newNode(t *testing.T, name, url string, o cluster.Options) *node {
	t.Helper()
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}), // drops are counted in Stats
	)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	h := hub.New()
	if o.App == "" {
		o.App = "test"
	}
	if o.TTL == 0 {
		o.TTL = testTTL
	}
	if o.SyncWait == 0 {
		o.SyncWait = testSync
	}
	o.Logger = testLogger(t, name)
	cl, err := cluster.New(nc, h, o)
	if err != nil {
		nc.Close()
		t.Fatalf("cluster.New: %v", err)
	}
	h.SetOutbound(cl)
	// What the boot does: resync after every reconnect.
	nc.SetReconnectHandler(func(*nats.Conn) { cl.Resync() })
	n := &node{name: name, nc: nc, hub: h, cl: cl, conns: make(map[string]*hub.Conn)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cl.Stop(ctx); err != nil {
			t.Errorf("%s: Stop: %v", name, err)
		}
		nc.Close()
	})
	h.Subscribe(ns, func(ev hub.Event) {
		n.mu.Lock()
		n.events = append(n.events, ev)
		n.mu.Unlock()
	})
	return n
}

func (n *node) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.cl.Start(ctx); err != nil {
		t.Fatalf("%s: Start: %v", n.name, err)
	}
	if !n.cl.Ready() {
		t.Fatalf("%s: not ready after Start", n.name)
	}
}

// startNodes creates and starts one node per URL.
func startNodes(t *testing.T, o cluster.Options, urls ...string) []*node {
	t.Helper()
	nodes := make([]*node, len(urls))
	for i, u := range urls {
		nodes[i] = newNode(t, fmt.Sprintf("n%d", i), u, o)
		nodes[i].start(t)
	}
	return nodes
}

// attach connects a recording client to namespace in, joined as user/session
// (not joined when session is empty).
func (n *node) attach(t *testing.T, in, user, session string, channels ...string) *client {
	t.Helper()
	c := &client{}
	conn := n.hub.Attach(in, c)
	if session != "" {
		if err := n.hub.Join(conn, hub.Member{SessionID: session, UserID: user, Channels: channels, Metadata: []byte(`{"name":"` + user + `"}`)}); err != nil {
			t.Errorf("%s: join %s: %v", n.name, session, err) // Errorf: attach also runs on helper goroutines
		}
		n.mu.Lock()
		n.conns[session] = conn
		n.mu.Unlock()
	}
	return c
}

// leave detaches the connection of session.
func (n *node) leave(session string) {
	n.mu.Lock()
	conn := n.conns[session]
	delete(n.conns, session)
	n.mu.Unlock()
	if conn != nil {
		n.hub.Detach(conn)
	}
}

// sessions returns the sorted session ids the node lists in namespace in.
func (n *node) sessions(in string) []string {
	var out []string
	for _, m := range n.hub.List(in) {
		out = append(out, m.SessionID)
	}
	slices.Sort(out)
	return out
}

// localSessions returns the sorted session ids joined on this node in ns.
func (n *node) localSessions() []string {
	var out []string
	for _, m := range n.hub.LocalMembers() {
		if m.Namespace == ns {
			out = append(out, m.SessionID)
		}
	}
	slices.Sort(out)
	return out
}

// eventCount counts the node's presence events of op for sessions with prefix.
func (n *node) eventCount(op hub.Op, remote bool, prefix string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, ev := range n.events {
		if ev.Op == op && ev.Remote == remote && strings.HasPrefix(ev.Member.SessionID, prefix) {
			c++
		}
	}
	return c
}

// truth is the union of every node's local members: what each roster must show.
func truth(nodes ...*node) []string {
	var all []string
	for _, n := range nodes {
		all = append(all, n.localSessions()...)
	}
	slices.Sort(all)
	return all
}

// waitConverged waits until every node lists exactly the truth.
func waitConverged(t *testing.T, timeout time.Duration, nodes ...*node) {
	t.Helper()
	natstest.WaitFor(t, timeout, "every roster to equal the truth", func() bool {
		want := truth(nodes...)
		for _, n := range nodes {
			if !slices.Equal(n.sessions(ns), want) {
				return false
			}
		}
		return true
	})
}

// waitInterest broadcasts probes from every node until every recording
// client on every other node has received one from each: subscription
// interest travels asynchronously across routes.
func waitInterest(t *testing.T, in string, nodes []*node, clients [][]*client) {
	t.Helper()
	for i, from := range nodes {
		k := 0
		prefix := fmt.Sprintf("probe-%d-", i)
		natstest.WaitFor(t, wait, "interest to propagate", func() bool {
			k++
			from.hub.Broadcast(in, "", nil, []byte(fmt.Sprintf("%s%d", prefix, k)))
			for j, cs := range clients {
				if j == i {
					continue
				}
				for _, c := range cs {
					if !c.hasPrefix(prefix) {
						return false
					}
				}
			}
			return true
		})
	}
}

// fence broadcasts a marker from node from on in and waits until every given
// client got it. NATS keeps one publisher's messages in order, so anything
// from sent before the fence has arrived once the fence has.
func fence(t *testing.T, from *node, in string, clients ...*client) {
	t.Helper()
	f := fmt.Sprintf("fence-%s-%d", from.name, time.Now().UnixNano())
	from.hub.Broadcast(in, "", nil, []byte(f))
	natstest.WaitFor(t, wait, "the fence", func() bool {
		for _, c := range clients {
			if c.count(f) == 0 {
				return false
			}
		}
		return true
	})
}

// wireTap subscribes a raw NATS connection to every subject of the cluster
// and records the largest message and what it saw.
type wireTap struct {
	nc       *nats.Conn
	sub      *nats.Subscription
	max      atomic.Int64
	maxHB    atomic.Int64
	msgs     atomic.Int64
	mu       sync.Mutex
	subjects map[string]int
	kinds    map[byte]int
}

func tap(t *testing.T, s *server.Server, subject string) *wireTap {
	t.Helper()
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{nc: nc, subjects: make(map[string]int), kinds: make(map[byte]int)}
	w.sub, err = nc.Subscribe(subject, func(m *nats.Msg) {
		w.msgs.Add(1)
		if l := int64(len(m.Data)); l > w.max.Load() {
			w.max.Store(l)
		}
		w.mu.Lock()
		w.subjects[m.Subject]++
		if len(m.Data) > 1 {
			w.kinds[m.Data[1]]++
			if m.Data[1] == 'h' && int64(len(m.Data)) > w.maxHB.Load() {
				w.maxHB.Store(int64(len(m.Data)))
			}
		}
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return w
}

func (w *wireTap) kind(k byte) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kinds[k]
}

func (w *wireTap) dropped(t *testing.T) int {
	d, err := w.sub.Dropped()
	is.New(t).NoErr(err)
	return d
}

func urls(servers []*server.Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = natstest.URL(s)
	}
	return out
}
