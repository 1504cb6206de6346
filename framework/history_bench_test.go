package mega

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// BenchmarkHistoryBroadcast measures what keeping history adds to a
// broadcast to a sub-channel, against the same channel without it in the
// same run: one booted instance on an in-process NATS with JetStream (file
// store), 100 clients in one room over loopback WebSockets, one broadcast
// at a time. ns/op is the time from App.Broadcast until all 100 clients
// have the frame; p50-µs and p99-µs its percentiles; cpu-µs/delivery the
// process's CPU time (server, NATS and the clients, all in this process)
// per delivered frame; nats-B/op the bytes NATS received and sent per
// broadcast. Run with -benchtime=500x or more for stable percentiles.
func BenchmarkHistoryBroadcast(b *testing.B) {
	const subs = 100
	payload := json.RawMessage(`{"text":"hello, everyone: a message of about a hundred bytes"}`)
	for _, mode := range []string{"live", "history"} {
		b.Run("mode="+mode, func(b *testing.B) {
			ns := natstest.StartJetStream(b, "")
			cfg := config.Default()
			cfg.Server.Addr = "127.0.0.1:0"
			cfg.Logger.Level = "error"
			cfg.Metrics.Enabled = false
			cfg.WSCluster = &config.WSCluster{Bus: "main", SubjectPrefix: "mega.ws", Roster: config.Roster{Driver: "nats", TTL: 10 * time.Second}}
			cfg.Services.Buses["main"] = config.Bus{Driver: "nats", URL: natstest.URL(ns)}
			var opts []ChannelOption
			if mode == "history" {
				opts = append(opts, WithHistory(DefaultHistory))
			}
			apps := Apps{"main": func(env *Env) (*App, error) {
				app := env.NewApp(WithLimits(Limits{MaxConnectionsPerIP: -1}))
				app.Channel("/ws", benchRoom{}, opts...)
				return app, nil
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			inst, err := Boot(ctx, cfg, apps)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = inst.Shutdown(ctx)
			})
			app := inst.App("main")
			var delivered atomic.Int64
			benchDial(b, "ws"+strings.TrimPrefix(inst.URL(), "http")+"/ws", subs, &delivered)
			if _, ok := testkit.Poll(10*time.Second, func() bool { return len(app.List("/ws")) >= subs }); !ok {
				b.Fatalf("%d of %d clients joined", len(app.List("/ws")), subs)
			}

			lat := make([]time.Duration, 0, b.N)
			v0, cpu0 := varz(b, ns), cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				want := delivered.Load() + subs
				t0 := time.Now()
				if err := app.Broadcast("/ws", Broadcast{Channel: "room", Type: "chat.message", Payload: payload}); err != nil {
					b.Fatal(err)
				}
				for delivered.Load() < want {
					if time.Since(t0) > 10*time.Second {
						b.Fatalf("broadcast %d: %d of %d delivered", i, delivered.Load()-want+subs, subs)
					}
					time.Sleep(5 * time.Microsecond)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			v1, cpu1 := varz(b, ns), cpuTime()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N*subs), "cpu-µs/delivery")
			b.ReportMetric(float64(v1.InBytes+v1.OutBytes-v0.InBytes-v0.OutBytes)/float64(b.N), "nats-B/op")
		})
	}
}

// benchRoom joins every connection to the sub-channel "room".
type benchRoom struct{}

func (benchRoom) OnConnect(c *Ctx) error {
	return c.Presence.Join(Entry{UserID: c.ConnID(), Channels: []string{"room"}})
}
func (benchRoom) OnMessage(*Ctx, Message) error { return nil }

func varz(b *testing.B, s *server.Server) *server.Varz {
	v, err := s.Varz(nil)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
