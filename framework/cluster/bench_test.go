package cluster_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
	"github.com/nats-io/nats.go"
)

var benchFrame = []byte(`{"type":"chat.message","payload":{"from":{"userId":"alice","name":"alice"},"room":"lobby","text":"hello, world","at":"2026-01-01T00:00:00Z"}}`)

// countingClient counts frames without keeping them.
type countingClient struct{ n atomic.Int64 }

func (c *countingClient) Send([]byte) { c.n.Add(1) }

func benchConn(b *testing.B, url string, opts ...nats.Option) *nats.Conn {
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

func awaitCount(b *testing.B, n *atomic.Int64, want int64) {
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", n.Load(), want)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkClusterBroadcast measures one broadcast from instance A's hub to
// a client on instance B (publish, NATS, receive, decode, deliver), and
// BenchmarkRawNATS the same payload over plain NATS pub/sub in the same
// process: the baseline for docs/performance.md.
//
// The noecho variant opens its connections with nats.NoEcho, as the bus
// does: the server does not send an instance its own broadcasts back.
func BenchmarkClusterBroadcast(b *testing.B) {
	b.Run("echo", func(b *testing.B) { benchClusterBroadcast(b) })
	b.Run("noecho", func(b *testing.B) { benchClusterBroadcast(b, nats.NoEcho()) })
}

func benchClusterBroadcast(b *testing.B, opts ...nats.Option) {
	s := natstest.StartServer(b)
	var hubs [2]*hub.Hub
	for i := range hubs {
		hubs[i] = hub.New()
		cl, err := cluster.New(benchConn(b, natstest.URL(s), opts...), hubs[i], cluster.Options{
			App: "bench", Roster: cluster.RosterNone, PendingMsgs: 1 << 20,
		})
		if err != nil {
			b.Fatal(err)
		}
		hubs[i].SetOutbound(cl)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := cl.Start(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.Cleanup(func() { _ = cl.Stop(context.Background()) })
	}
	recv := &countingClient{}
	hubs[1].Attach("/ws/chat", recv)
	hubs[0].Attach("/ws/chat", &countingClient{})
	// Wait for interest: probe until B receives.
	if _, ok := testkit.Poll(10*time.Second, func() bool {
		hubs[0].Broadcast("/ws/chat", "", nil, benchFrame)
		return recv.n.Load() > 0
	}); !ok {
		b.Fatal("no interest")
	}
	base := recv.n.Load()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	b.ResetTimer()
	for range b.N {
		hubs[0].Broadcast("/ws/chat", "", nil, benchFrame)
	}
	awaitCount(b, &recv.n, base+int64(b.N))
}

// BenchmarkRawNATS is the baseline: the same payload over plain NATS, one
// publisher connection and one subscriber connection. In the /echo variant
// the publisher's connection is subscribed too, as an instance with local
// connections on the namespace is (it receives and skips its own echo).
func BenchmarkRawNATS(b *testing.B) {
	for _, echo := range []bool{false, true} {
		name := "plain"
		if echo {
			name = "echo"
		}
		b.Run(name, func(b *testing.B) {
			s := natstest.StartServer(b)
			pub, sub := benchConn(b, natstest.URL(s)), benchConn(b, natstest.URL(s))
			var n atomic.Int64
			sb, err := sub.Subscribe("raw.bench", func(*nats.Msg) { n.Add(1) })
			if err != nil {
				b.Fatal(err)
			}
			_ = sb.SetPendingLimits(-1, -1)
			if echo {
				se, err := pub.Subscribe("raw.bench", func(*nats.Msg) {})
				if err != nil {
					b.Fatal(err)
				}
				_ = se.SetPendingLimits(-1, -1)
			}
			if err := sub.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := pub.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(benchFrame)))
			b.ResetTimer()
			for range b.N {
				if err := pub.Publish("raw.bench", benchFrame); err != nil {
					b.Fatal(err)
				}
			}
			awaitCount(b, &n, int64(b.N))
		})
	}
}
