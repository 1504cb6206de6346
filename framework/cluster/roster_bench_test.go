package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// BenchmarkJoinVisible measures how long a join on instance A takes to be
// visible (a presence event) on instance B, the two attached to different
// servers of a routed NATS cluster, while A already holds `members`
// members. It reports the p50 and p99 of that latency, and the roster
// bytes per second the pair sends while idle (heartbeats only), which must
// not grow with the member count.
func BenchmarkJoinVisible(b *testing.B) {
	for _, members := range []int{0, 1_000, 10_000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			nodes := natstest.StartCluster(b, 2)
			const ttl = 900 * time.Millisecond
			var hubs [2]*hub.Hub
			for i := range hubs {
				hubs[i] = hub.New()
				cl, err := cluster.New(benchConn(b, natstest.URL(nodes[i]), nats.NoEcho()), hubs[i], cluster.Options{App: "bench", TTL: ttl})
				if err != nil {
					b.Fatal(err)
				}
				hubs[i].SetOutbound(cl)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := cl.Start(ctx); err != nil {
					b.Fatal(err)
				}
				cancel()
				b.Cleanup(func() { _ = cl.Stop(context.Background()) })
			}
			for i := range members {
				c := hubs[0].Attach("/ws/chat", &countingClient{})
				if err := hubs[0].Join(c, hub.Member{SessionID: fmt.Sprint("m", i), UserID: fmt.Sprint("u", i), Metadata: []byte(`{"room":"lobby"}`)}); err != nil {
					b.Fatal(err)
				}
			}
			if _, ok := testkit.Poll(30*time.Second, func() bool { return len(hubs[1].List("/ws/chat")) >= members }); !ok {
				b.Fatalf("B sees %d of %d members", len(hubs[1].List("/ws/chat")), members)
			}

			// Idle roster traffic: count bytes on the roster subjects for 3 heartbeat periods.
			spy := benchConn(b, natstest.URL(nodes[1]))
			var bytes atomic.Int64
			sub, err := spy.Subscribe("mega.ws.bench.>", func(m *nats.Msg) { bytes.Add(int64(len(m.Subject) + len(m.Data))) })
			if err != nil {
				b.Fatal(err)
			}
			_ = spy.Flush()
			window := ttl
			time.Sleep(window) // measuring a rate needs a fixed window; nothing is awaited here
			_ = sub.Unsubscribe()
			idleRate := float64(bytes.Load()) / window.Seconds()

			seen := make(chan string, 1)
			cancel := hubs[1].Subscribe("/ws/chat", func(ev hub.Event) {
				if ev.Op == hub.OpJoin {
					select {
					case seen <- ev.Member.SessionID:
					default:
					}
				}
			})
			defer cancel()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				c := hubs[0].Attach("/ws/chat", &countingClient{})
				sid := fmt.Sprint("probe", i)
				start := time.Now()
				if err := hubs[0].Join(c, hub.Member{SessionID: sid, UserID: "probe"}); err != nil {
					b.Fatal(err)
				}
				for got := range seen {
					if got == sid {
						break
					}
				}
				lat = append(lat, time.Since(start))
				hubs[0].Detach(c)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(idleRate, "idle-roster-B/s")
		})
	}
}
