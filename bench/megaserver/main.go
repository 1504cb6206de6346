// Command megaserver is the mega app the load tests drive: one channel at
// /ws/chat whose "chat.send" messages are broadcast to the whole namespace
// as "chat.message" with the same payload (encoded once). No auth. It is
// booted the way mega.Main boots an app, so --nats wires the NATS cluster
// exactly as mega.yaml's wsCluster would.
//
//	megaserver --addr 127.0.0.1:8080                      # one instance, no cluster
//	megaserver --addr 127.0.0.1:8080 --nats embedded      # cluster on, embedded NATS
//	megaserver --addr 127.0.0.1:8081 --nats nats://127.0.0.1:4222   # an instance of a cluster
//
// GET /debug/mem reports Go memory statistics after a GC (megabench --stats-url);
// GET /debug/roster how many members the instance sees.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"

	"github.com/megaframework/mega/bench/internal/memstat"
)

// bench is the channel: broadcast what is sent, optionally join presence.
type bench struct {
	join  bool
	in    string
	out   string
	local *atomic.Int64 // connections open on this instance
}

func (b bench) OnConnect(ctx *mega.Ctx) error {
	b.local.Add(1)
	if !b.join {
		return nil
	}
	name := ctx.Request().URL.Query().Get("name")
	if name == "" {
		name = ctx.ConnID()
	}
	return ctx.Presence.Join(mega.Entry{UserID: name})
}

func (b bench) OnDisconnect(*mega.Ctx, error) { b.local.Add(-1) }

func (b bench) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	if msg.Type != b.in {
		return mega.ErrUnknownType
	}
	return ctx.Presence.Broadcast(mega.Broadcast{Type: b.out, Payload: msg.Payload})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "megaserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	natsURL := flag.String("nats", "off", `cluster bus: "off" (no cluster), "embedded", or NATS URLs`)
	roster := flag.String("roster", "nats", "with a cluster: roster driver, nats or none")
	join := flag.Bool("join", false, "join presence on connect (user id = ?name=), so every connection is in the roster")
	events := flag.Bool("presence-events", false, "send presence.join/update/leave frames to every connection (mega.WithPresenceEvents)")
	ttl := flag.Duration("ttl", 10*time.Second, "with a cluster: roster TTL (a crashed instance's members leave after about this long)")
	in := flag.String("in", "chat.send", "message type that is broadcast")
	out := flag.String("out", "chat.message", "type of the broadcast frames")
	logLevel := flag.String("log", "warn", "log level")
	flag.Parse()

	yaml := fmt.Sprintf(`
server: { addr: %q, shutdownTimeout: 10s }
logger: { level: %s, format: console }
apps: [bench]
websocket:
  # The publisher sends far more than a person would.
  messagesPerSecond: 1000000
  burst: 1000000
  # Every load-test client comes from one address.
  maxConnectionsPerIP: -1
`, *addr, *logLevel)
	if *natsURL != "off" {
		yaml += fmt.Sprintf(`
services:
  buses:
    main: { driver: nats, url: %q }
wsCluster:
  bus: main
  subjectPrefix: mega.bench
  roster: { driver: %s, ttl: %s }
`, *natsURL, *roster, *ttl)
	}
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	var local atomic.Int64
	apps := mega.Apps{"bench": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Router().Get("/debug/mem", memstat.Handler)
		app.Router().Get("/debug/roster", func(w http.ResponseWriter, _ *http.Request) {
			// How many members this instance sees in /ws/chat, cluster-wide.
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "{\"members\":%d,\"local\":%d}\n", len(app.List("/ws/chat")), local.Load())
		})
		var opts []mega.ChannelOption
		if *events {
			opts = append(opts, mega.WithPresenceEvents())
		}
		app.Channel("/ws/chat", bench{join: *join, in: *in, out: *out, local: &local}, opts...)
		return app, nil
	}}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	inst, err := mega.Boot(ctx, cfg, apps)
	if err != nil {
		return err
	}
	fmt.Printf("megaserver listening on %s (cluster: %s, join: %v)\n", inst.URL(), *natsURL, *join)
	select {
	case <-ctx.Done():
	case <-inst.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(inst.Err(), inst.Shutdown(sctx))
}
