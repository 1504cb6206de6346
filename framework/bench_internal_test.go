package mega

import (
	"fmt"
	"testing"

	"github.com/megaframework/mega/framework/hub"
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
				c := &conn{app: app, mount: m, limits: &limits, writing: true}
				c.hc = app.hub.Attach(m.ns, c)
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
				c.queue, c.queued = c.queue[:0], 0
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := sender.Presence.Broadcast(Broadcast{Type: "chat.message", Payload: payload}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, c := range conns {
					c.queue, c.queued = c.queue[:0], 0
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sub")
		})
	}
}
