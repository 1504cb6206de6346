package mega

import (
	"fmt"
	"testing"

	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/internal/transport"
)

// BenchmarkBroadcastEnqueue measures Presence.Broadcast to n local
// subscribers up to the point where the frame sits in each connection's
// send queue: encode once, hub fan-out, byte-bounded enqueue. Writers are
// parked (as if busy) so the socket is not part of the figure; queues are
// reset between broadcasts without freeing them, like a writer that keeps up.
func BenchmarkBroadcastEnqueue(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			app := NewApp("bench")
			m := &mount{ns: "/ws/bench", limits: app.limits}
			limits := app.limits
			conns := make([]*conn, n)
			for i := range conns {
				c := &conn{app: app, mount: m, limits: &limits}
				c.t = transport.Parked(limits.transportOptions(), c)
				c.hc = app.hub.Attach(m.ns, c.t)
				if err := app.hub.Join(c.hc, hub.Member{SessionID: fmt.Sprint(i), UserID: fmt.Sprint(i)}); err != nil {
					b.Fatal(err)
				}
				conns[i] = c
			}
			sender := &Ctx{conn: conns[0]}
			sender.Presence = &Presence{c: sender}
			payload := map[string]string{"text": "hello, everyone"}
			// One warm-up broadcast gives every queue its first slot, as any
			// live connection has after its first message.
			if err := sender.Presence.Broadcast(Broadcast{Type: "warm-up"}); err != nil {
				b.Fatal(err)
			}
			for _, c := range conns {
				c.t.Discard()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := sender.Presence.Broadcast(Broadcast{Type: "chat.message", Payload: payload}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, c := range conns {
					c.t.Discard()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sub")
		})
	}
}

// BenchmarkAppList measures what App.List (and Presence.List) cost at 1k and
// 10k members shaped like the sample's (one sub-channel, ~30 bytes of
// metadata): "shared" is the hub's cached snapshot that List handed out
// before it returned copies, "copy" is List now (the snapshot deep-copied in
// three allocations). warm reads an unchanged roster; after-change rebuilds
// the snapshot first.
func BenchmarkAppList(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		app := NewApp("bench")
		app.Channel("/ws/chat", nopChannel{})
		for i := range n {
			app.hub.ApplyRemote("peer", hub.OpJoin, hub.Member{
				Namespace: "/ws/chat", SessionID: fmt.Sprintf("s%06d", i), UserID: fmt.Sprint("user", i),
				Channels: []string{"lobby"}, Metadata: []byte(fmt.Sprintf(`{"name":"user%d","room":"lobby"}`, i)),
			})
		}
		lists := map[string]func() int{
			"shared": func() int { return len(app.hub.List("/ws/chat")) },
			"copy":   func() int { return len(app.List("/ws/chat")) },
		}
		for _, kind := range []string{"shared", "copy"} {
			list := lists[kind]
			b.Run(fmt.Sprintf("members=%d/%s/warm", n, kind), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if list() != n {
						b.Fatal("wrong size")
					}
				}
			})
			b.Run(fmt.Sprintf("members=%d/%s/after-change", n, kind), func(b *testing.B) {
				b.ReportAllocs()
				m := hub.Member{Namespace: "/ws/chat", SessionID: "extra", UserID: "x"}
				i := 0
				for b.Loop() {
					op := hub.OpJoin
					if i%2 == 1 {
						op = hub.OpLeave
					}
					i++
					app.hub.ApplyRemote("peer", op, m)
					list()
				}
				app.hub.ApplyRemote("peer", hub.OpLeave, m) // as it was, for the next run
			})
		}
	}
}

// nopChannel accepts connections and ignores messages.
type nopChannel struct{}

func (nopChannel) OnConnect(*Ctx) error          { return nil }
func (nopChannel) OnMessage(*Ctx, Message) error { return nil }
