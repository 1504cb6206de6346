package mega_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/nats.go"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/inspect"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
)

// lobbyApp has two namespaces with presence.
func lobbyApp(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceEvents())
	app.Channel("/ws/lobby", newChat(), mega.WithAuth(auth), mega.WithPresenceEvents())
	return app, nil
}

// inspectTTL is the roster TTL of the inspect test: long enough that an
// inspect right after a crash surely runs before the peers drop the dead
// instance (they do at the earliest TTL - TTL/3 after the crash).
const inspectTTL = 3 * time.Second

const inspectYAML = `
apps: [main, lobby]
services: { buses: { main: { driver: nats, url: embedded } } }
wsCluster: { bus: main, subjectPrefix: acme.ws, roster: { driver: nats, ttl: 3s } }
`

// inspectAll runs inspect.Query on nc, failing the test on an error, and
// returns the result and how long it took.
func inspectAll(t *testing.T, nc *nats.Conn, timeout time.Duration) (*inspect.Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	t0 := time.Now()
	res, err := inspect.Query(ctx, nc, inspect.Options{Prefix: "acme.ws", Timeout: timeout})
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return res, time.Since(t0)
}

func instanceIDs(res *inspect.Result) []string {
	var ids []string
	for _, r := range res.Instances {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestInspectSeesEveryInstanceAndReportsACrashedOneMissing(t *testing.T) {
	is := is.New(t)
	nodes := natstest.StartCluster(t, 3)
	urls := []string{natstest.URL(nodes[0]), natstest.URL(nodes[1]), natstest.URL(nodes[2])}
	insts := megatest.BootOn(t, urls, mega.Apps{"main": chatApp, "lobby": lobbyApp}, inspectYAML)
	id := func(k int) string { return insts[k].Instance.InstanceID() }

	// main /ws/chat: ann and bob on 0, cid on 1. lobby /ws/chat: dee on 0.
	// lobby /ws/lobby: eve on 2. Instance 2 has no main connection.
	for _, c := range []struct {
		inst int
		path string
	}{{0, "/main/ws/chat?name=ann"}, {0, "/main/ws/chat?name=bob"}, {1, "/main/ws/chat?name=cid"},
		{0, "/lobby/ws/chat?name=dee"}, {2, "/lobby/ws/lobby?name=eve"}} {
		insts[c.inst].Dial(t, c.path).Expect(t, "welcome")
	}
	natstest.WaitFor(t, megatest.Timeout, "every instance to see every member", func() bool {
		for _, s := range insts {
			main, lobby := s.Instance.App("main"), s.Instance.App("lobby")
			if len(main.List("/ws/chat")) != 3 || len(lobby.List("/ws/chat")) != 1 || len(lobby.List("/ws/lobby")) != 1 {
				return false
			}
		}
		return true
	})

	nc, err := nats.Connect(urls[0], nats.Name("inspect test"))
	is.NoErr(err)
	t.Cleanup(nc.Close)

	// Everyone answers: Inspect returns well before its timeout.
	res, took := inspectAll(t, nc, 5*time.Second)
	t.Logf("3 instances answered; inspect returned after %s", took)
	is.True(took < 2*time.Second) // returned early, not after the 5s timeout
	is.Equal(res.Version, inspect.Version)
	is.Equal(res.Prefix, "acme.ws")
	is.Equal(res.Subject, "acme.ws.inspect")
	want := []string{id(0), id(1), id(2)}
	slices.Sort(want)
	is.Equal(instanceIDs(res), want)
	is.Equal(len(res.Missing), 0)
	is.Equal(res.Namespaces, []inspect.NamespaceTotal{
		{App: "lobby", Namespace: "/ws/chat", Members: 1, MembersMin: 1, Connections: 1, Instances: 3},
		{App: "lobby", Namespace: "/ws/lobby", Members: 1, MembersMin: 1, Connections: 1, Instances: 3},
		{App: "main", Namespace: "/ws/chat", Members: 3, MembersMin: 3, Connections: 3, Instances: 3},
	})
	wantConns := map[string][3]int{ // instance -> main /ws/chat, lobby /ws/chat, lobby /ws/lobby
		id(0): {2, 1, 0},
		id(1): {1, 0, 0},
		id(2): {0, 0, 1},
	}
	for k, s := range insts {
		var r inspect.Reply
		for _, x := range res.Instances {
			if x.ID == id(k) {
				r = x
			}
		}
		others := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == id(k) })
		is.Equal(r.Listen, s.URL)
		is.Equal(r.Peers, others)
		is.True(r.UptimeSeconds > 0)
		is.Equal(len(r.Apps), 2)
		lobby, main := r.Apps[0], r.Apps[1] // sorted by name
		is.Equal(lobby.Name, "lobby")
		is.Equal(main.Name, "main")
		c := wantConns[id(k)]
		is.Equal(main.Namespaces, []inspect.Namespace{{Namespace: "/ws/chat", Connections: c[0], Members: 3}})
		is.Equal(lobby.Namespaces, []inspect.Namespace{
			{Namespace: "/ws/chat", Connections: c[1], Members: 1},
			{Namespace: "/ws/lobby", Connections: c[2], Members: 1},
		})
		is.Equal(r.Connections, c[0]+c[1]+c[2])
		is.Equal(main.Connections, c[0])
		for _, a := range r.Apps {
			is.Equal(a.Cluster.Peers, others)
			is.Equal(a.Cluster.Roster, "nats")
			is.Equal(a.Cluster.TTLSeconds, inspectTTL.Seconds())
			is.True(a.Cluster.Published.Roster > 0) // heartbeats at least
			is.Equal(a.Cluster.Dropped, uint64(0))
		}
	}

	// Instance 2 crashes: no bye. Until the TTL, its peers still list it,
	// so the next inspect reports it missing after waiting its timeout.
	mega.CrashBus(insts[2].Instance)
	crashed := time.Now()
	const timeout = 500 * time.Millisecond
	res, took = inspectAll(t, nc, timeout)
	t.Logf("inspect %s after the crash, took %s", time.Since(crashed), took)
	is.True(time.Since(crashed) < inspectTTL-inspectTTL/3) // still within the TTL: the peers know it
	is.True(took >= timeout)                               // it waited for the missing one…
	is.True(took < timeout+time.Second)                    // …but no longer than the timeout
	is.Equal(instanceIDs(res), slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == id(2) }))
	survivors := []string{id(0), id(1)}
	slices.Sort(survivors)
	is.Equal(res.Missing, []inspect.Missing{{ID: id(2), ListedBy: survivors, Reason: "no answer within 500ms"}})
	// Its members still count until the TTL; its connections are gone.
	is.Equal(res.Namespaces[1], inspect.NamespaceTotal{App: "lobby", Namespace: "/ws/lobby", Members: 1, MembersMin: 1, Connections: 0, Instances: 2})

	// After the TTL the peers have dropped it: it is not listed at all.
	natstest.WaitFor(t, 3*inspectTTL, "the crashed instance to be forgotten", func() bool {
		res, _ = inspectAll(t, nc, 300*time.Millisecond)
		return len(res.Missing) == 0
	})
	t.Logf("crashed instance forgotten %s after the crash (TTL %s)", time.Since(crashed), inspectTTL)
	is.Equal(len(res.Instances), 2)
	is.Equal(res.Namespaces[1], inspect.NamespaceTotal{App: "lobby", Namespace: "/ws/lobby", Members: 0, MembersMin: 0, Connections: 0, Instances: 2})
	for _, r := range res.Instances {
		is.Equal(len(r.Peers), 1)
		for _, a := range r.Apps {
			is.Equal(a.Cluster.InstancesDropped, uint64(1))
		}
	}

	// A graceful stop says bye: its peer forgets it at once (well within
	// the TTL), so it is never reported missing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	is.NoErr(insts[1].Instance.Shutdown(ctx))
	stopped := time.Now()
	natstest.WaitFor(t, inspectTTL/2, "only instance 0 to answer, nobody missing", func() bool {
		res, _ = inspectAll(t, nc, 300*time.Millisecond)
		return len(res.Missing) == 0 && len(res.Instances) == 1
	})
	t.Logf("stopped instance gone from inspect %s after its shutdown", time.Since(stopped))
	is.Equal(instanceIDs(res), []string{id(0)})
	is.Equal(res.Instances[0].Peers, []string{})
}
