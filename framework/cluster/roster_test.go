package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/natstest"
)

// fakeLocal is a Local that ignores everything (for option tests).
type fakeLocal struct{}

func (fakeLocal) DeliverBroadcast(string, string, []string, []byte) {}
func (fakeLocal) DeliverDirect(string, []byte)                      {}
func (fakeLocal) ApplyRemote(string, hub.Op, hub.Member)            {}
func (fakeLocal) ReplaceInstance(string, []hub.Member)              {}
func (fakeLocal) DropInstance(string)                               {}

func TestJoinUpdateLeaveVisibleEverywhere(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{}, urls(servers)...)

	t0 := time.Now()
	nodes[0].attach(t, ns, "alice", "alice-1", "lobby")
	natstest.WaitFor(t, wait, "the join on every instance", func() bool {
		for _, n := range nodes {
			if !slices.Equal(n.sessions(ns), []string{"alice-1"}) {
				return false
			}
		}
		return true
	})
	t.Logf("join visible on 3 instances after %s", time.Since(t0))
	for _, n := range nodes[1:] {
		natstest.WaitFor(t, wait, "one remote join event", func() bool { return n.eventCount(hub.OpJoin, true, "alice-1") == 1 }) // a remote join event, once
		m, ok := n.hub.Lookup("alice-1")
		is.True(ok)
		is.Equal(m.UserID, "alice")
		is.Equal(m.Channels, []string{"lobby"})
		is.Equal(string(m.Metadata), `{"name":"alice"}`)
	}

	nodes[0].mu.Lock()
	conn := nodes[0].conns["alice-1"]
	nodes[0].mu.Unlock()
	is.NoErr(nodes[0].hub.Update(conn, []byte(`{"name":"alice","away":true}`)))
	natstest.WaitFor(t, wait, "the update on every instance", func() bool {
		for _, n := range nodes[1:] {
			if m, _ := n.hub.Lookup("alice-1"); string(m.Metadata) != `{"name":"alice","away":true}` {
				return false
			}
		}
		return true
	})
	for _, n := range nodes[1:] {
		natstest.WaitFor(t, wait, "one remote update event", func() bool { return n.eventCount(hub.OpUpdate, true, "alice-1") == 1 })
	}

	t0 = time.Now()
	nodes[0].leave("alice-1")
	natstest.WaitFor(t, wait, "the leave on every instance", func() bool {
		for _, n := range nodes {
			if len(n.sessions(ns)) != 0 {
				return false
			}
		}
		return true
	})
	t.Logf("leave visible on 3 instances after %s", time.Since(t0))
	for _, n := range nodes[1:] {
		natstest.WaitFor(t, wait, "one remote leave event", func() bool { return n.eventCount(hub.OpLeave, true, "alice-1") == 1 })
		is.Equal(n.cl.Stats().StateFetches, uint64(0)) // deltas alone, no gap
	}
}

func TestGracefulStopRemovesMembersAtOnce(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	w := tap(t, servers[0], "mega.ws.test.roster")
	// A long TTL: only the bye can explain a quick removal.
	nodes := startNodes(t, cluster.Options{TTL: 30 * time.Second}, urls(servers)...)
	for i := range 50 {
		nodes[2].attach(t, ns, fmt.Sprintf("u%d", i), fmt.Sprintf("gone-%02d", i))
	}
	nodes[0].attach(t, ns, "stay", "stay-0")
	waitConverged(t, wait, nodes...)

	deltasBefore := w.kind('u')
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	is.NoErr(nodes[2].cl.Stop(ctx))
	natstest.WaitFor(t, 2*time.Second, "the stopped instance's members to be gone", func() bool {
		return slices.Equal(nodes[0].sessions(ns), []string{"stay-0"}) &&
			slices.Equal(nodes[1].sessions(ns), []string{"stay-0"})
	})
	t.Logf("members of a stopped instance gone after %s", time.Since(t0))
	for _, n := range nodes[:2] {
		// The hub emits events right after it updates the roster.
		natstest.WaitFor(t, wait, "50 leave events", func() bool { return n.eventCount(hub.OpLeave, true, "gone-") == 50 })
		is.Equal(n.cl.Stats().InstancesLeft, uint64(1))
		is.Equal(n.cl.Stats().InstancesDropped, uint64(0))
	}
	natstest.WaitFor(t, wait, "the tap to see the bye", func() bool { return w.kind('x') == 1 })
	is.Equal(w.kind('u'), deltasBefore) // one bye, not one message per member
	is.True(!nodes[2].cl.Ready())
}

func TestCrashedInstanceIsDroppedWithinTTL(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	const ttl = 600 * time.Millisecond
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{TTL: ttl}, urls(servers)...)
	for i := range 20 {
		nodes[1].attach(t, ns, fmt.Sprintf("u%d", i), fmt.Sprintf("crash-%02d", i))
	}
	nodes[0].attach(t, ns, "a", "ok-0")
	nodes[2].attach(t, ns, "b", "ok-2")
	waitConverged(t, wait, nodes...)

	t0 := time.Now()
	nodes[1].nc.Close() // no Stop: no bye
	natstest.WaitFor(t, wait, "the crashed instance's members to be dropped", func() bool {
		return slices.Equal(nodes[0].sessions(ns), []string{"ok-0", "ok-2"}) &&
			slices.Equal(nodes[2].sessions(ns), []string{"ok-0", "ok-2"})
	})
	elapsed := time.Since(t0)
	t.Logf("TTL %s: crashed instance dropped after %s", ttl, elapsed)
	if elapsed > ttl+ttl/2 {
		t.Errorf("dropped after %s, want about TTL (%s) plus a sweep tick", elapsed, ttl)
	}
	for _, n := range []*node{nodes[0], nodes[2]} {
		natstest.WaitFor(t, wait, "20 leave events", func() bool { return n.eventCount(hub.OpLeave, true, "crash-") == 20 }) // clients get presence.leave
		is.Equal(n.cl.Stats().InstancesDropped, uint64(1))
	}
}

func TestServerRestartResyncs(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{}, urls(servers)...)
	for i, n := range nodes {
		for j := range 10 {
			n.attach(t, ns, fmt.Sprintf("u%d", j), fmt.Sprintf("n%d-s%02d", i, j))
		}
	}
	waitConverged(t, wait, nodes...)

	// Restart node 1's server. While it is down, members come and go on
	// node 1 (its messages wait in the client's reconnect buffer or are
	// lost) and on node 0.
	down := make(chan struct{})
	go func() {
		defer close(down)
		for j := range 5 {
			nodes[1].leave(fmt.Sprintf("n1-s%02d", j))
			nodes[0].leave(fmt.Sprintf("n0-s%02d", j))
		}
	}()
	servers[1] = natstest.Restart(t, servers[1])
	<-down
	for j := range 5 {
		nodes[1].attach(t, ns, "late", fmt.Sprintf("n1-late%d", j))
		nodes[2].attach(t, ns, "late", fmt.Sprintf("n2-late%d", j))
	}
	natstest.WaitFor(t, wait, "node 1 to reconnect", nodes[1].nc.IsConnected)
	waitConverged(t, wait, nodes...)
	is.True(nodes[1].cl.Stats().Resyncs >= 1)
	for _, n := range nodes {
		natstest.WaitFor(t, wait, "ready again", n.cl.Ready)
	}
	t.Logf("after restart: node1 %+v", nodes[1].cl.Stats())
}

func TestNewInstanceConvergesInBusyCluster(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{}, urls(servers)...)
	for i, n := range nodes {
		for j := range 300 {
			n.attach(t, ns, fmt.Sprintf("u%d", j%37), fmt.Sprintf("n%d-stable-%03d", i, j))
		}
	}
	waitConverged(t, wait, nodes...)

	// Churn on node 0 while the new instance starts.
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(1)
	go func() {
		defer churn.Done()
		pace := time.NewTicker(time.Millisecond)
		defer pace.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			s := fmt.Sprintf("n0-churn-%d", k%40)
			if k%80 < 40 {
				nodes[0].attach(t, ns, "churn", s)
			} else {
				nodes[0].leave(s)
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		churn.Wait()
	})

	// SyncWait is how long a peer has to acknowledge the sync request; the
	// race detector on a loaded machine needs more than the default.
	fresh := newNode(t, "fresh", natstest.URL(servers[1]), cluster.Options{SyncWait: 500 * time.Millisecond})
	is.True(!fresh.cl.Ready())
	t0 := time.Now()
	fresh.start(t)
	t.Logf("new instance synced 900+ members in %s", time.Since(t0))
	// Ready means the full view: every stable member is there at once.
	got := fresh.sessions(ns)
	for i := range nodes {
		for j := range 300 {
			if _, found := slices.BinarySearch(got, fmt.Sprintf("n%d-stable-%03d", i, j)); !found {
				t.Fatalf("ready without n%d-stable-%03d", i, j)
			}
		}
	}
	close(stop)
	churn.Wait()
	waitConverged(t, wait, append(nodes, fresh)...)
}

func Test20000MembersStayUnder64KB(t *testing.T) {
	if testing.Short() {
		t.Skip("large roster")
	}
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 2)
	w := tap(t, servers[0], "mega.>")
	nodes := startNodes(t, cluster.Options{TTL: 5 * time.Second}, natstest.URL(servers[0]), natstest.URL(servers[1]), natstest.URL(servers[0]), natstest.URL(servers[1]))

	t0 := time.Now()
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5000 {
				n.attach(t, ns, fmt.Sprintf("user-%d", j%1000), fmt.Sprintf("node%d-session-%05d", i, j), "lobby")
			}
		}()
	}
	wg.Wait()
	natstest.WaitFor(t, 30*time.Second, "20,000 members on every instance", func() bool {
		for _, n := range nodes {
			if len(n.hub.List(ns)) != 20_000 {
				return false
			}
		}
		return true
	})
	t.Logf("20,000 joins visible on 4 instances after %s", time.Since(t0))

	// A fifth instance syncs the whole roster in chunks.
	t0 = time.Now()
	fifth := newNode(t, "fifth", natstest.URL(servers[1]), cluster.Options{TTL: 5 * time.Second, SyncWait: 500 * time.Millisecond})
	fifth.start(t)
	if got := len(fifth.hub.List(ns)); got != 20_000 {
		// Start waits SyncWait after the last reply; a peer slower than
		// that (race detector, 2 shared cores) completes the view later.
		t.Logf("fifth instance saw %d of 20,000 members when Start returned", got)
	}
	natstest.WaitFor(t, 30*time.Second, "20,000 members on the fifth instance", func() bool {
		return len(fifth.hub.List(ns)) == 20_000
	})
	for _, n := range append(nodes, fifth) {
		t.Logf("%s: %+v", n.name, n.cl.Stats())
	}
	t.Logf("fifth instance synced 20,000 members in %s", time.Since(t0))

	// A few heartbeats later: heartbeats do not grow with the roster.
	hb := w.kind('h')
	natstest.WaitFor(t, wait, "more heartbeats", func() bool { return w.kind('h') > hb+5 })
	is.Equal(w.dropped(t), 0)
	t.Logf("largest message %d bytes, largest heartbeat %d bytes, %d messages", w.max.Load(), w.maxHB.Load(), w.msgs.Load())
	is.True(w.max.Load() < 64<<10)
	is.True(w.maxHB.Load() < 128)
	for _, n := range nodes {
		is.Equal(n.cl.Stats().Malformed, uint64(0))
	}
}

func TestConcurrentStartsWithMembersJoinedEarly(t *testing.T) {
	leakCheck(t)
	servers := natstest.StartCluster(t, 3)
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = newNode(t, fmt.Sprintf("n%d", i), natstest.URL(servers[i]), cluster.Options{})
		// Members that joined before Start are announced by the first heartbeat.
		for j := range 20 {
			nodes[i].attach(t, ns, "early", fmt.Sprintf("n%d-early-%02d", i, j))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			errs[i] = n.cl.Start(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("n%d: Start: %v", i, err)
		}
	}
	waitConverged(t, wait, nodes...)
}

func TestResyncOfAnInSyncClusterMovesNoState(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{TTL: 30 * time.Second}, urls(servers)...)
	for i, n := range nodes {
		for j := range 100 {
			n.attach(t, ns, "u", fmt.Sprintf("n%d-%03d", i, j))
		}
	}
	waitConverged(t, wait, nodes...)
	before := make([]cluster.Stats, len(nodes))
	for i, n := range nodes {
		before[i] = n.cl.Stats()
	}
	nodes[0].cl.Resync()
	// The two peers answer the ping with a heartbeat each.
	natstest.WaitFor(t, wait, "the ping answers", func() bool {
		st := nodes[0].cl.Stats()
		return st.Resyncs == 1 && st.RosterReceived >= before[0].RosterReceived+2
	})
	// And see node 0's fresh heartbeat (published after its ping).
	for i, n := range nodes[1:] {
		natstest.WaitFor(t, wait, "node 0's heartbeat", func() bool {
			return n.cl.Stats().RosterReceived >= before[i+1].RosterReceived+2
		})
	}
	for i, n := range nodes {
		st := n.cl.Stats()
		is.Equal(st.StateFetches, before[i].StateFetches) // versions matched: no state moved
		is.Equal(st.StatesServed, before[i].StatesServed)
	}
	waitConverged(t, wait, nodes...)
}
