package cluster

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// These tests drive one real Cluster (with a real hub) against a scripted
// peer, "ghost", that speaks the wire protocol by hand, to pin down the
// roster's repair rules: gaps, unknown instances, lost chunks, byes.

type ghost struct {
	t  *testing.T
	nc *nats.Conn
	id string

	mu       sync.Mutex
	requests int
	seq      uint64
	members  []hub.Member
	skip     int // answer the next request without this chunk index (-1: none)
	answer   bool
}

func newGhost(t *testing.T, url string) *ghost {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	g := &ghost{t: t, nc: nc, id: "ghost", skip: -1, answer: true}
	_, err = nc.Subscribe("mega.ws.test.state.ghost", func(m *nats.Msg) {
		req, err := decodeRoster(m.Data)
		if err != nil || req.kind != kindStateReq {
			t.Errorf("ghost: bad state request: %v", err)
			return
		}
		g.mu.Lock()
		g.requests++
		seq, ms, skip, answer := g.seq, slices.Clone(g.members), g.skip, g.answer
		g.skip = -1
		g.mu.Unlock()
		if !answer {
			return
		}
		for i, c := range encodeChunks(g.id, req.reqID, seq, ms) {
			if i != skip {
				_ = nc.Publish(m.Reply, c)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return g
}

// state sets what the ghost answers to state requests.
func (g *ghost) state(seq uint64, ms ...hub.Member) {
	g.mu.Lock()
	g.seq, g.members = seq, ms
	g.mu.Unlock()
}

func (g *ghost) requestCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

func (g *ghost) publish(b []byte) {
	if err := g.nc.Publish("mega.ws.test.roster", b); err != nil {
		g.t.Fatal(err)
	}
	if err := g.nc.Flush(); err != nil {
		g.t.Fatal(err)
	}
}

func (g *ghost) deltas(first uint64, ops ...delta) {
	for i := range ops {
		ops[i].seq = first + uint64(i)
	}
	encodeDeltas(g.id, ops, func(b []byte) { g.publish(b) })
}

func gm(sid string) hub.Member {
	return hub.Member{Namespace: "/ns", SessionID: sid, UserID: "u-" + sid}
}

func listed(h *hub.Hub) []string {
	var out []string
	for _, m := range h.List("/ns") {
		out = append(out, m.SessionID)
	}
	return out
}

// startOne starts a Cluster with a real hub on a fresh server.
func startOne(t *testing.T) (*Cluster, *hub.Hub, string) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := natstest.StartServer(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New()
	c, err := New(nc, h, Options{App: "test", TTL: 600 * time.Millisecond, SyncWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.SetOutbound(c)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
		nc.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c, h, natstest.URL(s)
}

func TestUnknownInstanceIsFetchedNotTrusted(t *testing.T) {
	is := is.New(t)
	c, h, url := startOne(t)
	g := newGhost(t, url)
	var events []hub.Event
	var mu sync.Mutex
	h.Subscribe("/ns", func(ev hub.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() })

	// A delta from an instance we never heard of (say it restarted, or we
	// missed its first messages): not applied; its state is fetched.
	g.state(6, gm("b"))
	g.deltas(5, delta{op: hub.OpJoin, m: gm("a")})
	natstest.WaitFor(t, wait, "the ghost's state", func() bool { return slices.Equal(listed(h), []string{"b"}) })
	is.Equal(g.requestCount(), 1)
	mu.Lock()
	for _, ev := range events {
		is.True(ev.Member.SessionID != "a") // the stale delta never surfaced
	}
	mu.Unlock()

	// The next delta continues the snapshot: applied directly.
	g.deltas(7, delta{op: hub.OpJoin, m: gm("c")})
	natstest.WaitFor(t, wait, "delta 7", func() bool { return slices.Equal(listed(h), []string{"b", "c"}) })
	is.Equal(g.requestCount(), 1)

	// A gap (8 is lost): fetch again; buffered 9 and 10 apply after the snapshot at 8.
	g.state(8, gm("b"), gm("c"), gm("d"))
	g.deltas(9, delta{op: hub.OpLeave, m: gm("b")}, delta{op: hub.OpJoin, m: gm("e")})
	natstest.WaitFor(t, wait, "repair after a gap", func() bool { return slices.Equal(listed(h), []string{"c", "d", "e"}) })
	is.Equal(g.requestCount(), 2)

	// A heartbeat ahead of what we applied: we missed something.
	g.state(12, gm("c"), gm("f"))
	g.publish(encodeHeartbeat(nil, g.id, 12, 2))
	natstest.WaitFor(t, wait, "repair after a heartbeat ahead", func() bool { return slices.Equal(listed(h), []string{"c", "f"}) })
	is.Equal(g.requestCount(), 3)

	// Same seq, wrong count: the views disagree, fetch.
	g.state(12, gm("c"), gm("f"), gm("g"))
	g.publish(encodeHeartbeat(nil, g.id, 12, 3))
	natstest.WaitFor(t, wait, "repair after a count mismatch", func() bool { return slices.Equal(listed(h), []string{"c", "f", "g"}) })
	is.Equal(g.requestCount(), 4)

	// A matching heartbeat costs nothing.
	g.publish(encodeHeartbeat(nil, g.id, 12, 3))
	g.publish(encodeHeartbeat(nil, g.id, 12, 3))
	is.Equal(g.requestCount(), 4)

	// Bye: dropped at once; late deltas and chunks from it are ignored.
	g.publish(encodeBye(nil, g.id))
	natstest.WaitFor(t, wait, "the bye", func() bool { return len(listed(h)) == 0 })
	g.deltas(13, delta{op: hub.OpJoin, m: gm("zombie")})
	// Fence: a message the cluster must count after the zombie ones.
	g.publish(encodeHeartbeat(nil, "fence", 0, 0))
	natstest.WaitFor(t, wait, "the fence", func() bool { return c.Stats().Peers == 1 })
	is.Equal(len(listed(h)), 0)
	is.Equal(g.requestCount(), 4)
	is.Equal(c.Stats().InstancesLeft, uint64(1))

	// A heartbeat after the bye can only come from a new boot reusing the
	// id: it is unknown, so its current state is fetched (never the old one).
	g.state(2, gm("reborn"))
	g.publish(encodeHeartbeat(nil, g.id, 2, 1))
	natstest.WaitFor(t, wait, "the new incarnation", func() bool { return slices.Equal(listed(h), []string{"reborn"}) })
	is.Equal(g.requestCount(), 5)
}

func TestLostChunkIsRetried(t *testing.T) {
	is := is.New(t)
	c, h, url := startOne(t)
	g := newGhost(t, url)
	ms := make([]hub.Member, 3000) // several chunks
	for i := range ms {
		ms[i] = gm("member-with-a-long-session-id-" + itoa(i))
	}
	g.state(40, ms...)
	g.mu.Lock()
	g.skip = 1 // the first answer loses chunk 1
	g.mu.Unlock()
	g.publish(encodeHeartbeat(nil, g.id, 40, len(ms)))
	natstest.WaitFor(t, wait, "the full state despite a lost chunk", func() bool { return len(h.List("/ns")) == len(ms) })
	is.Equal(g.requestCount(), 2)
	is.Equal(c.Stats().StateFetches, uint64(2))
}

func TestSilentGhostIsDroppedAndMalformedCounted(t *testing.T) {
	is := is.New(t)
	c, h, url := startOne(t)
	g := newGhost(t, url)
	g.state(1, gm("x"))
	g.publish(encodeHeartbeat(nil, g.id, 1, 1))
	natstest.WaitFor(t, wait, "the ghost's member", func() bool { return len(listed(h)) == 1 })

	g.publish([]byte("not a cluster message"))
	g.publish(encodeHeartbeat(nil, "bad.id", 1, 0)) // an id that cannot be a subject token
	_ = g.nc.Publish("mega.ws.test.state."+c.InstanceID(), []byte{wireVersion, 'r'})
	natstest.WaitFor(t, wait, "malformed messages to be counted", func() bool { return c.Stats().Malformed == 3 })

	natstest.WaitFor(t, wait, "the silent ghost to be dropped", func() bool { return len(listed(h)) == 0 })
	is.Equal(c.Stats().InstancesDropped, uint64(1))
	is.True(c.Ready())
}

func TestStartWaitsForPeersState(t *testing.T) {
	is := is.New(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := natstest.StartServer(t)
	g := newGhost(t, natstest.URL(s))
	// The ghost answers sync requests (on the roster subject) with a state
	// of 2 chunks, the second one late.
	ms := make([]hub.Member, 2000)
	for i := range ms {
		ms[i] = gm("member-with-a-long-session-id-" + itoa(i))
	}
	g.state(5, ms...) // what a retry by state request would get
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	var wg sync.WaitGroup
	_, err := g.nc.Subscribe("mega.ws.test.roster", func(m *nats.Msg) {
		req, err := decodeRoster(m.Data)
		if err != nil || req.kind != kindSync {
			return
		}
		chunks := encodeChunks(g.id, req.reqID, 5, ms)
		is.True(len(chunks) > 1)
		_ = g.nc.Publish(m.Reply, chunks[0])
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			for _, c := range chunks[1:] {
				_ = g.nc.Publish(m.Reply, c)
			}
		}()
	})
	is.NoErr(err)
	is.NoErr(g.nc.Flush())
	t.Cleanup(func() { releaseOnce(); wg.Wait() }) // a failure before the release must not hang

	nc, err := nats.Connect(natstest.URL(s))
	is.NoErr(err)
	defer nc.Close()
	h := hub.New()
	// SyncWait is how long Start waits for a first answer; it must be
	// longer than the ghost takes to send its first chunk, even under -race
	// on a loaded machine (a peer slower than that counts as absent).
	c, err := New(nc, h, Options{App: "test", TTL: 5 * time.Second, SyncWait: 500 * time.Millisecond})
	is.NoErr(err)
	started := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		started <- c.Start(ctx)
	}()
	// Well past SyncWait, Start still waits: the ghost's state is incomplete.
	deadline := time.NewTimer(1500 * time.Millisecond)
	select {
	case err := <-started:
		t.Fatalf("Start returned %v before the peer's state was complete", err)
	case <-deadline.C:
	}
	is.True(!c.Ready())
	releaseOnce()
	is.NoErr(<-started)
	is.True(c.Ready())
	is.Equal(len(h.List("/ns")), len(ms))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	is.NoErr(c.Stop(ctx))
}

const wait = 10 * time.Second
