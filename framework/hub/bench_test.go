package hub_test

import (
	"fmt"
	"testing"

	"github.com/megaframework/mega/framework/hub"
)

// counter is the cheapest possible client, so the benchmark measures the
// hub's own fan-out cost.
type counter struct{ n int }

func (c *counter) Send([]byte) { c.n++ }

// BenchmarkBroadcast measures one broadcast to every connection of a
// namespace. ns/sub is the cost per subscriber; allocs/op must not grow
// with the subscriber count.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			h := hub.New()
			for i := 0; i < n; i++ {
				c := h.Attach("/ws/chat", &counter{})
				_ = h.Join(c, hub.Member{SessionID: fmt.Sprint(i), UserID: fmt.Sprint(i % 100), Channels: []string{"lobby"}})
			}
			frame := []byte(`{"type":"chat.message","payload":{"text":"hello"}}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.Broadcast("/ws/chat", "lobby", nil, frame)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sub")
		})
	}
}

// BenchmarkList measures Presence.List's cost at 1k and 10k members: warm
// (the cached snapshot) and after every change (the snapshot is rebuilt:
// one copy and sort of the namespace's members).
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		h := hub.New()
		for i := 0; i < n; i++ {
			h.ApplyRemote("peer", hub.OpJoin, hub.Member{Namespace: "/ws/chat", SessionID: fmt.Sprint(i), UserID: fmt.Sprint(i)})
		}
		b.Run(fmt.Sprintf("members=%d/warm", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if len(h.List("/ws/chat")) != n {
					b.Fatal("wrong size")
				}
			}
		})
		b.Run(fmt.Sprintf("members=%d/after-change", n), func(b *testing.B) {
			b.ReportAllocs()
			m := hub.Member{Namespace: "/ws/chat", SessionID: "extra", UserID: "x"}
			for i := 0; i < b.N; i++ {
				op := hub.OpJoin
				if i%2 == 1 {
					op = hub.OpLeave
				}
				h.ApplyRemote("peer", op, m)
				_ = h.List("/ws/chat")
			}
		})
	}
}
