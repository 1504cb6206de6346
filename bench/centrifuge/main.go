// Command centrifuge-bench is the same fan-out scenario on
// github.com/centrifugal/centrifuge, the Go library behind Centrifugo: every
// connection is subscribed server-side to one channel, and every client
// publication to it is broadcast to all subscribers by the in-memory broker.
// It is a separate Go module so that the mega module never depends on it.
//
//	go build -o centrifuge-bench . && ./centrifuge-bench --addr 127.0.0.1:9002
//	megabench --protocol centrifuge --url ws://127.0.0.1:9002/connection/websocket
//
// GET /debug/mem reports Go memory statistics after a GC (megabench --stats-url).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9002", "listen address")
	channel := flag.String("channel", "bench", "the channel every connection is subscribed to")
	offReadLoop := flag.Bool("process-off-read-loop", false, "WebsocketConfig.ProcessCommandsOffReadLoop (smaller idle stacks)")
	flag.Parse()

	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError, LogHandler: func(e centrifuge.LogEntry) {
		log.Printf("centrifuge: %s %v", e.Message, e.Fields)
	}})
	if err != nil {
		log.Fatal(err)
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: ""}, // anonymous, like the other servers
			Subscriptions: map[string]centrifuge.SubscribeOptions{*channel: {}},
		}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			cb(centrifuge.PublishReply{}, nil)
		})
	})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/mem", memHandler)
	mux.Handle("/", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin:                func(*http.Request) bool { return true },
		ProcessCommandsOffReadLoop: *offReadLoop,
	}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("centrifuge listening on ws://%s/ (channel %q)\n", ln.Addr(), *channel)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// memHandler mirrors mega's bench/internal/memstat (this module cannot
// import it): Go memory statistics after a GC.
func memHandler(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"heapAlloc": m.HeapAlloc, "heapInuse": m.HeapInuse, "stackInuse": m.StackInuse,
		"sys": m.Sys, "goroutines": runtime.NumGoroutine(),
	})
}
