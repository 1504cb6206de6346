package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/nats-io/nats.go"
)

func TestBroadcastExactlyOnceAcrossThreeNodes(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{}, urls(servers)...)

	clients := make([][]*client, len(nodes))
	var all []*client
	for i, n := range nodes {
		for j := range 2 {
			c := n.attach(t, ns, fmt.Sprintf("u%d", j), fmt.Sprintf("s%d-%d", i, j))
			clients[i] = append(clients[i], c)
			all = append(all, c)
		}
	}
	waitInterest(t, ns, nodes, clients)

	for i, n := range nodes {
		n.hub.Broadcast(ns, "", nil, []byte(fmt.Sprintf("msg-%d", i)))
	}
	for _, n := range nodes {
		fence(t, n, ns, all...)
	}
	for _, c := range all {
		for i := range nodes {
			is.Equal(c.count(fmt.Sprintf("msg-%d", i)), 1) // every client gets every broadcast exactly once
		}
	}
	for _, n := range nodes {
		st := n.cl.Stats()
		is.True(st.BroadcastsPublished >= 2)
		is.True(st.Echoes > 0) // its own broadcasts came back and were skipped
		is.Equal(st.Malformed, uint64(0))
	}
}

func TestDirectReachesEverySessionOfTheUser(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{}, urls(servers)...)

	a0 := nodes[0].attach(t, ns, "alice", "alice-0")
	b1 := nodes[1].attach(t, ns, "bob", "bob-1")
	a2 := nodes[2].attach(t, ns, "alice", "alice-2")
	other := nodes[2].attach(t, "/ws/other", "alice", "alice-other") // same user, other namespace
	otherB := nodes[1].attach(t, "/ws/other", "bob", "bob-other")
	waitInterest(t, ns, nodes, [][]*client{{a0}, {b1}, {a2}})

	// One publish reaches the user's sessions in every namespace, on every instance.
	nodes[1].hub.Direct("alice", []byte("whisper"))
	fence(t, nodes[1], ns, a0, b1, a2)
	fence(t, nodes[1], "/ws/other", other)
	is.Equal(a0.count("whisper"), 1)
	is.Equal(a2.count("whisper"), 1)
	is.Equal(other.count("whisper"), 1)
	is.Equal(b1.count("whisper"), 0)
	is.Equal(otherB.count("whisper"), 0)
	is.Equal(nodes[1].cl.Stats().DirectsPublished, uint64(1))

	// A direct from the instance that holds one of the sessions.
	nodes[0].hub.Direct("alice", []byte("again"))
	fence(t, nodes[0], ns, a0, b1, a2)
	is.Equal(a0.count("again"), 1)
	is.Equal(a2.count("again"), 1)
	is.Equal(nodes[2].cl.Stats().DirectsReceived, uint64(2))
	is.Equal(nodes[0].cl.Stats().Malformed, uint64(0))
}

func TestDirectsReachOnlyInstancesWithConnections(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	nodes := startNodes(t, cluster.Options{}, natstest.URL(s), natstest.URL(s))
	n0, n1 := nodes[0], nodes[1]
	is.Equal(n1.nc.NumSubscriptions(), 3) // roster, state, reply: no connection, no data subject

	a := n0.attach(t, ns, "u", "u0")
	b := n1.attach(t, ns, "v", "v1")
	is.Equal(n1.nc.NumSubscriptions(), 3+2) // + the namespace and the direct subject
	waitInterest(t, ns, nodes, [][]*client{{a}, {b}})
	n0.hub.Direct("v", []byte("to-v"))
	fence(t, n0, ns, b)
	is.Equal(b.count("to-v"), 1)

	// Its last connection gone, n1 no longer receives directs.
	n1.leave("v1")
	is.Equal(n1.nc.NumSubscriptions(), 3)
	is.NoErr(n1.nc.Flush()) // the server has processed the unsubscribe
	before := n1.cl.Stats()
	n0.hub.Direct("v", []byte("after"))
	is.NoErr(n0.nc.Flush()) // the server has routed it, before n1 subscribes again
	c := n0.attach(t, "/ws/probe", "p", "p0")
	d := n1.attach(t, "/ws/probe", "q", "q1")
	waitInterest(t, "/ws/probe", nodes, [][]*client{{c}, {d}})
	is.Equal(n1.cl.Stats().DirectsReceived, before.DirectsReceived)
}

func TestChannelsAndExceptAcrossInstances(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	nodes := startNodes(t, cluster.Options{}, natstest.URL(s), natstest.URL(s))

	a1 := nodes[0].attach(t, ns, "u1", "a1", "a")
	b1 := nodes[0].attach(t, ns, "u2", "b1", "b")
	a2 := nodes[1].attach(t, ns, "u3", "a2", "a")
	a3 := nodes[1].attach(t, ns, "u4", "a3", "a", "b")
	b2 := nodes[1].attach(t, ns, "u5", "b2", "b")
	all := []*client{a1, b1, a2, a3, b2}
	waitInterest(t, ns, nodes, [][]*client{{a1, b1}, {a2, a3, b2}})

	nodes[0].hub.Broadcast(ns, "a", []string{"a3"}, []byte("to-a"))
	nodes[0].hub.Broadcast(ns, "b", []string{"b1", "b2"}, []byte("to-b"))
	fence(t, nodes[0], ns, all...)
	is.Equal(a1.count("to-a"), 1)
	is.Equal(a2.count("to-a"), 1)
	is.Equal(a3.count("to-a"), 0) // excepted on the other instance
	is.Equal(b1.count("to-a"), 0) // not on channel a
	is.Equal(b2.count("to-a"), 0)
	is.Equal(a3.count("to-b"), 1)
	is.Equal(b1.count("to-b"), 0) // excepted locally
	is.Equal(b2.count("to-b"), 0) // excepted remotely
	is.Equal(a1.count("to-b"), 0)
}

func TestInterestRouting(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	nodes := startNodes(t, cluster.Options{}, natstest.URL(s), natstest.URL(s))
	n0, n1 := nodes[0], nodes[1]

	// Many users and sub-channels on two namespaces: still one subscription per namespace.
	for i := range 50 {
		n0.attach(t, "/ws/b", fmt.Sprintf("u%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("ch%d", i%10))
	}
	a0 := n0.attach(t, ns, "x", "x0", "c1", "c2")
	a1 := n1.attach(t, ns, "y", "y1")
	is.Equal(n0.nc.NumSubscriptions(), 3+2+1) // roster, state, reply + one per namespace + directs
	is.Equal(n1.nc.NumSubscriptions(), 3+1+1)
	waitInterest(t, ns, nodes, [][]*client{{a0}, {a1}})

	before := n1.cl.Stats()
	for i := range 100 {
		n0.hub.Broadcast("/ws/b", fmt.Sprintf("ch%d", i%10), nil, []byte("b-traffic"))
	}
	fence(t, n0, ns, a1)
	after := n1.cl.Stats()
	// n1 has no connection on /ws/b: it received none of its traffic.
	is.Equal(after.BroadcastsReceived-before.BroadcastsReceived, uint64(1)) // the fence only
	is.True(after.BytesReceived-before.BytesReceived < 200)

	// Once n1's last connection on ns leaves, ns traffic stops reaching it too.
	c1 := n1.attach(t, "/ws/c", "z", "z1")
	c0 := n0.attach(t, "/ws/c", "w", "w0")
	waitInterest(t, "/ws/c", nodes, [][]*client{{c0}, {c1}})
	n1.leave("y1")
	is.Equal(n1.nc.NumSubscriptions(), 3+1+1)
	before = n1.cl.Stats()
	n0.hub.Broadcast(ns, "", nil, []byte("nobody-there"))
	fence(t, n0, "/ws/c", c1)
	is.Equal(n1.cl.Stats().BroadcastsReceived-before.BroadcastsReceived, uint64(1)) // the fence only
}

func TestSubjectInjection(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	w := tap(t, s, ">")
	nodes := startNodes(t, cluster.Options{}, natstest.URL(s), natstest.URL(s))
	evil, plain := "a.b.*.>", "a.b"

	e0 := nodes[0].attach(t, evil, "x y.>", "e0")
	e1 := nodes[1].attach(t, evil, "x y.>", "e1")
	p0 := nodes[0].attach(t, plain, "x y.>", "p0")
	p1 := nodes[1].attach(t, plain, "x y.>", "p1")
	w1 := nodes[1].attach(t, "*", "*", "w1")
	waitInterest(t, evil, nodes, [][]*client{{e0}, {e1}})
	waitInterest(t, plain, nodes, [][]*client{{p0}, {p1}})

	nodes[0].hub.Broadcast(evil, "", nil, []byte("to-evil"))
	nodes[0].hub.Direct("x y.>", []byte("direct-evil"))
	nodes[0].hub.Direct("x y", []byte("direct-wrong-user"))
	fence(t, nodes[0], evil, e1)
	fence(t, nodes[0], plain, p1)
	is.Equal(e1.count("to-evil"), 1)
	is.Equal(e1.count("direct-evil"), 1)
	is.Equal(p1.count("to-evil"), 0)
	is.Equal(p1.count("direct-evil"), 1) // the same user, in another namespace
	is.Equal(p1.count("direct-wrong-user"), 0)
	is.Equal(w1.count("to-evil"), 0)

	// Every subject on the wire has the expected shape: nothing a user
	// controls became a token.
	w.mu.Lock()
	defer w.mu.Unlock()
	for subj := range w.subjects {
		tokens := strings.Split(subj, ".")
		ok := len(tokens) == 5 && tokens[0] == "mega" && tokens[1] == "ws" && tokens[2] == "test" &&
			(tokens[3] == "n" || tokens[3] == "state" || tokens[3] == "reply")
		ok = ok || subj == "mega.ws.test.roster" || subj == "mega.ws.test.d"
		if !ok {
			t.Errorf("unexpected subject %q", subj)
		}
		if strings.ContainsAny(subj, "*> ") {
			t.Errorf("wildcard or space in subject %q", subj)
		}
	}
}

func TestAppsAreIsolated(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	a := startNodes(t, cluster.Options{App: "one"}, natstest.URL(s), natstest.URL(s))
	b := newNode(t, "other", natstest.URL(s), cluster.Options{App: "two"})
	b.start(t)

	c0 := a[0].attach(t, ns, "u", "s0")
	c1 := a[1].attach(t, ns, "u", "s1")
	cb := b.attach(t, ns, "u", "sb")
	waitInterest(t, ns, a, [][]*client{{c0}, {c1}})
	a[0].hub.Broadcast(ns, "", nil, []byte("app-one"))
	fence(t, a[0], ns, c1)
	is.Equal(cb.count("app-one"), 0)
	is.Equal(b.cl.Stats().BroadcastsReceived, uint64(0))
	is.Equal(b.sessions(ns), []string{"sb"}) // the roster does not mix either
}

func TestRosterNone(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	w := tap(t, s, "mega.>")
	nodes := startNodes(t, cluster.Options{Roster: cluster.RosterNone}, natstest.URL(s), natstest.URL(s))

	c0 := nodes[0].attach(t, ns, "u0", "s0")
	c1 := nodes[1].attach(t, ns, "u1", "s1")
	waitInterest(t, ns, nodes, [][]*client{{c0}, {c1}})
	nodes[1].hub.Broadcast(ns, "", nil, []byte("hello"))
	fence(t, nodes[1], ns, c0)
	is.Equal(c0.count("hello"), 1)

	is.Equal(nodes[0].sessions(ns), []string{"s0"}) // local roster only
	is.Equal(nodes[1].sessions(ns), []string{"s1"})
	is.Equal(nodes[0].nc.NumSubscriptions(), 2) // the namespace and directs, nothing else
	w.mu.Lock()
	defer w.mu.Unlock()
	for subj := range w.subjects {
		if !strings.HasPrefix(subj, "mega.ws.test.n.") {
			t.Errorf("roster none sent %q", subj)
		}
	}
	is.Equal(nodes[0].cl.Stats().RosterPublished, uint64(0))
}

func TestSlowConsumerDropsAreCounted(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	s := natstest.StartServer(t)
	n0 := newNode(t, "n0", natstest.URL(s), cluster.Options{})
	n1 := newNode(t, "n1", natstest.URL(s), cluster.Options{PendingMsgs: 4})
	n0.start(t)
	n1.start(t)
	c0 := n0.attach(t, ns, "u0", "s0")
	c1 := n1.attach(t, ns, "u1", "s1")
	waitInterest(t, ns, []*node{n0, n1}, [][]*client{{c0}, {c1}})

	// A client whose Send blocks stalls n1's reader (a misbehaving hub);
	// NATS must drop into the full queue, not block the connection.
	stuck := &client{block: make(chan struct{})}
	n1.hub.Attach(ns, stuck)
	released := false
	defer func() {
		if !released {
			close(stuck.block)
		}
	}()
	natstest.WaitFor(t, wait, "drops to be counted", func() bool {
		for range 20 {
			n0.hub.Broadcast(ns, "", nil, []byte("flood"))
		}
		return n1.cl.Stats().Dropped > 0
	})
	close(stuck.block)
	released = true
	// The queue drains and delivery resumes (a fence may itself be dropped
	// while the flood is still queued, so keep sending one).
	k := 0
	natstest.WaitFor(t, wait, "delivery to resume", func() bool {
		k++
		n0.hub.Broadcast(ns, "", nil, []byte(fmt.Sprintf("after-%d", k)))
		return c1.hasPrefix("after-")
	})
	is.True(n1.cl.Stats().Dropped > 0)
	is.True(n1.nc.IsConnected()) // the connection itself was never blocked
}

func TestOptionsValidation(t *testing.T) {
	leakCheck(t)
	s := natstest.StartServer(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := fakeLocal{}
	for name, tc := range map[string]struct {
		opts cluster.Options
		want string
	}{
		"no app":         {cluster.Options{}, "app"},
		"dotted app":     {cluster.Options{App: "a.b"}, "app"},
		"wildcard app":   {cluster.Options{App: "*"}, "app"},
		"bad prefix":     {cluster.Options{App: "a", SubjectPrefix: "mega..ws"}, "subjectPrefix"},
		"prefix >":       {cluster.Options{App: "a", SubjectPrefix: "mega.>"}, "subjectPrefix"},
		"roster redis":   {cluster.Options{App: "a", Roster: "redis"}, `roster: must be "nats" or "none", got "redis"`},
		"tiny ttl":       {cluster.Options{App: "a", TTL: time.Millisecond}, "ttl"},
		"negative wait":  {cluster.Options{App: "a", SyncWait: -1}, "syncWait"},
		"bad instance":   {cluster.Options{App: "a", InstanceID: "x.y"}, "instanceID"},
		"negative queue": {cluster.Options{App: "a", PendingMsgs: -1}, "pendingMsgs"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cluster.New(nc, h, tc.opts)
			if !errors.Is(err, cluster.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want ErrInvalidOptions mentioning %q", tc.opts, err, tc.want)
			}
		})
	}
	// Every problem is reported at once.
	_, err = cluster.New(nil, nil, cluster.Options{App: "a.b", Roster: "x"})
	for _, want := range []string{"nats connection", "local hub", "app", "roster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	c, err := cluster.New(nc, h, cluster.Options{App: "ok", InstanceID: "fixed-id"})
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceID() != "fixed-id" {
		t.Fatalf("InstanceID() = %q", c.InstanceID())
	}
	c2, _ := cluster.New(nc, h, cluster.Options{App: "ok"})
	c3, _ := cluster.New(nc, h, cluster.Options{App: "ok"})
	if len(c2.InstanceID()) != 32 || c2.InstanceID() == c3.InstanceID() {
		t.Fatalf("default instance ids %q, %q", c2.InstanceID(), c3.InstanceID())
	}
	// Stop without Start, twice.
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, cluster.ErrStopped) {
		t.Fatalf("Start after Stop = %v", err)
	}
}
