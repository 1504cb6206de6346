package hub_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/hub"
)

// recorder is a hub.Client that keeps what it is sent.
type recorder struct {
	mu     sync.Mutex
	frames []string
}

func (r *recorder) Send(frame []byte) {
	r.mu.Lock()
	r.frames = append(r.frames, string(frame))
	r.mu.Unlock()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.frames...)
}

// outbound records what the hub reports to the cluster.
type outbound struct {
	mu       sync.Mutex
	calls    []string
	interest map[string]bool
}

func (o *outbound) record(s string) { o.mu.Lock(); o.calls = append(o.calls, s); o.mu.Unlock() }
func (o *outbound) PublishBroadcast(ns, ch string, except []string, frame []byte) {
	o.record(fmt.Sprintf("broadcast %s %s %v %s", ns, ch, except, frame))
}
func (o *outbound) PublishDirect(user string, frame []byte) {
	o.record(fmt.Sprintf("direct %s %s", user, frame))
}
func (o *outbound) MemberChanged(op hub.Op, m hub.Member) {
	o.record(fmt.Sprintf("%s %s", op, m.SessionID))
}
func (o *outbound) Interest(ns string, on bool) {
	o.mu.Lock()
	if o.interest == nil {
		o.interest = map[string]bool{}
	}
	o.interest[ns] = on
	o.mu.Unlock()
}

func join(t *testing.T, h *hub.Hub, ns, session, user string, channels ...string) (*hub.Conn, *recorder) {
	t.Helper()
	rec := &recorder{}
	c := h.Attach(ns, rec)
	if err := h.Join(c, hub.Member{SessionID: session, UserID: user, Channels: channels}); err != nil {
		t.Fatalf("join %s: %v", session, err)
	}
	return c, rec
}

func TestBroadcast(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	_, a := join(t, h, "/ws/chat", "s1", "ann", "lobby")
	_, b := join(t, h, "/ws/chat", "s2", "bob", "kitchen")
	other := &recorder{}
	h.Attach("/ws/other", other)
	anon := &recorder{}
	h.Attach("/ws/chat", anon) // attached but never joined

	h.Broadcast("/ws/chat", "", nil, []byte("all"))
	h.Broadcast("/ws/chat", "lobby", nil, []byte("lobby"))
	h.Broadcast("/ws/chat", "", []string{"s2"}, []byte("not-bob"))

	is.Equal(a.got(), []string{"all", "lobby", "not-bob"})
	is.Equal(b.got(), []string{"all"})
	is.Equal(anon.got(), []string{"all", "not-bob"})
	is.Equal(len(other.got()), 0)
}

func TestDirectReachesEverySessionOfUser(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	_, tab1 := join(t, h, "/ws/chat", "s1", "ann")
	_, tab2 := join(t, h, "/ws/chat", "s2", "ann")
	_, bob := join(t, h, "/ws/chat", "s3", "bob")
	_, elsewhere := join(t, h, "/ws/dash", "s4", "ann")

	out := &outbound{}
	h.SetOutbound(out)

	h.Direct("ann", []byte("psst"))
	is.Equal(tab1.got(), []string{"psst"})
	is.Equal(tab2.got(), []string{"psst"})
	is.Equal(elsewhere.got(), []string{"psst"}) // every namespace of the app
	is.Equal(len(bob.got()), 0)
	is.Equal(out.calls, []string{"direct ann psst"}) // reported to the cluster once
}

func TestJoinErrors(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	c, _ := join(t, h, "/ws/chat", "s1", "ann")

	other := h.Attach("/ws/chat", &recorder{})
	is.True(errors.Is(h.Join(other, hub.Member{SessionID: "s1", UserID: "eve"}), hub.ErrSessionTaken))
	is.True(errors.Is(h.Join(c, hub.Member{SessionID: "s9", UserID: "ann"}), hub.ErrAlreadyJoined))

	h.ApplyRemote("peer", hub.OpJoin, hub.Member{Namespace: "/ws/chat", SessionID: "r1", UserID: "zed"})
	is.True(errors.Is(h.Join(other, hub.Member{SessionID: "r1", UserID: "eve"}), hub.ErrSessionTaken))

	h.Detach(other)
	is.True(errors.Is(h.Join(other, hub.Member{SessionID: "s5", UserID: "eve"}), hub.ErrDetached))
	is.True(errors.Is(h.Update(other, nil), hub.ErrNotJoined))
}

func TestDetachLeavesAndEmits(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	out := &outbound{}
	h.SetOutbound(out)
	var events []string
	cancel := h.Subscribe("/ws/chat", func(ev hub.Event) {
		events = append(events, ev.Op.String()+" "+ev.Member.SessionID)
	})
	defer cancel()

	c, rec := join(t, h, "/ws/chat", "s1", "ann", "lobby")
	is.NoErr(h.Update(c, []byte(`{"mood":"ok"}`)))
	is.Equal(len(h.List("/ws/chat")), 1)
	is.Equal(h.Count("/ws/chat"), 1)
	is.Equal(string(h.List("/ws/chat")[0].Metadata), `{"mood":"ok"}`)
	h.Detach(c)
	h.Detach(c) // idempotent

	is.Equal(len(h.List("/ws/chat")), 0)
	is.Equal(h.Count("/ws/chat"), 0)
	is.Equal(events, []string{"join s1", "update s1", "leave s1"})
	is.Equal(out.calls, []string{"join s1", "update s1", "leave s1"})
	is.Equal(out.interest["/ws/chat"], false)
	h.Broadcast("/ws/chat", "", nil, []byte("late"))
	h.Direct("ann", []byte("late"))
	is.Equal(len(rec.got()), 0)
}

func TestRemoteRoster(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	var events []string
	h.Subscribe("/ws/chat", func(ev hub.Event) {
		events = append(events, fmt.Sprintf("%s %s remote=%v", ev.Op, ev.Member.SessionID, ev.Remote))
	})
	m := func(sid, user string) hub.Member {
		return hub.Member{Namespace: "/ws/chat", SessionID: sid, UserID: user}
	}
	join(t, h, "/ws/chat", "local", "ann")
	h.ApplyRemote("i1", hub.OpJoin, m("a", "x"))
	h.ApplyRemote("i1", hub.OpJoin, m("a", "x")) // repeated: no event
	h.ApplyRemote("i1", hub.OpJoin, m("local", "evil"))
	h.ReplaceInstance("i1", []hub.Member{m("b", "y"), m("c", "z")})
	h.ApplyRemote("i2", hub.OpJoin, m("d", "w"))
	h.ApplyRemote("i2", hub.OpLeave, m("a", "x")) // not i2's member: ignored
	h.DropInstance("i1")

	is.Equal(len(events), 8)
	is.Equal(events[:6], []string{
		"join local remote=false",
		"join a remote=true",
		"join b remote=true",
		"join c remote=true",
		"leave a remote=true",
		"join d remote=true",
	})
	drops := events[6:] // DropInstance emits in no particular order
	sort.Strings(drops)
	is.Equal(drops, []string{"leave b remote=true", "leave c remote=true"})
	var sids []string
	for _, mm := range h.List("/ws/chat") {
		sids = append(sids, mm.SessionID)
	}
	is.Equal(sids, []string{"d", "local"})
	is.Equal(h.Instances(), []string{"i2"})
}

func TestConcurrentUse(t *testing.T) {
	h := hub.New()
	var wg sync.WaitGroup
	var delivered atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c := h.Attach("/ws/chat", clientFunc(func([]byte) { delivered.Add(1) }))
				_ = h.Join(c, hub.Member{SessionID: fmt.Sprintf("%d-%d", g, i), UserID: "u", Channels: []string{"x"}})
				h.Broadcast("/ws/chat", "x", nil, []byte("m"))
				h.Direct("u", []byte("d"))
				_ = h.List("/ws/chat")
				h.Detach(c)
			}
		}()
	}
	wg.Wait()
	if n := h.LocalCount("/ws/chat"); n != 0 {
		t.Fatalf("LocalCount = %d after all detached, want 0", n)
	}
	if len(h.List("/ws/chat")) != 0 {
		t.Fatal("members remain after all detached")
	}
}

type clientFunc func([]byte)

func (f clientFunc) Send(b []byte) { f(b) }

func TestDetachedConnectionMissesItsOwnLeave(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	// Like the framework's presence frames: every event is delivered to the
	// namespace's connections.
	cancel := h.Subscribe("/ws/chat", func(ev hub.Event) {
		h.DeliverBroadcast("/ws/chat", "", nil, []byte("presence."+ev.Op.String()+" "+ev.Member.SessionID))
	})
	defer cancel()
	c, self := join(t, h, "/ws/chat", "s1", "ann")
	_, other := join(t, h, "/ws/chat", "s2", "bob")
	h.Detach(c)
	is.Equal(self.got(), []string{"presence.join s1", "presence.join s2"}) // nothing after it left
	is.Equal(other.got(), []string{"presence.join s2", "presence.leave s1"})
}

// TestListStaysExactUnderRandomChanges checks the incremental snapshot
// against a from-scratch sorted list after every few random joins, updates
// and leaves, with Lists in between (so the snapshot is rebuilt from a
// previous one most of the time).
func TestListStaysExactUnderRandomChanges(t *testing.T) {
	is := is.New(t)
	h := hub.New()
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]hub.Member{}
	for step := range 5000 {
		sid := fmt.Sprintf("s%03d", rng.IntN(300))
		m := hub.Member{Namespace: "/ws/x", SessionID: sid, UserID: "u", Metadata: []byte(fmt.Sprintf(`{"v":%d}`, step))}
		switch _, ok := want[sid]; {
		case !ok:
			h.ApplyRemote("peer", hub.OpJoin, m)
			want[sid] = m
		case rng.IntN(2) == 0:
			h.ApplyRemote("peer", hub.OpUpdate, m)
			want[sid] = m
		default:
			h.ApplyRemote("peer", hub.OpLeave, m)
			delete(want, sid)
		}
		if rng.IntN(3) > 0 {
			continue // several changes between Lists
		}
		ids := make([]string, 0, len(want))
		for id := range want {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		got := h.List("/ws/x")
		is.Equal(len(got), len(ids))
		for i, m := range got {
			is.Equal(m.SessionID, ids[i])
			is.Equal(string(m.Metadata), string(want[ids[i]].Metadata)) // the latest value
		}
		is.Equal(h.Count("/ws/x"), len(ids))
	}
}
