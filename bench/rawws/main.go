// Command rawws is the baseline mega's fan-out is measured against: a
// minimal broadcast server on plain coder/websocket (package
// internal/rawws, which the framework's Go benchmarks use too). Every text
// message a client sends is broadcast as is to every connected client (the
// sender too): the frame is "encoded" once — it is the received bytes — and
// each connection has one writer goroutine fed by a buffered channel. A
// client whose channel is full is dropped.
//
// With --mode reader, connections only run a reader goroutine and nothing
// is broadcast: the idle-connection baseline.
//
// With --nats URL, instances form a cluster the plainest way: every frame
// is delivered locally, then published as is (behind this instance's id)
// on one subject with nats.go's defaults; a callback subscription delivers
// what other instances published and skips this instance's own echo. It is
// the baseline of the cross-instance hop (raw NATS pub/sub).
//
//	rawws --addr 127.0.0.1:9001      # then: megabench --protocol raw --url ws://127.0.0.1:9001/ws
//	rawws --addr 127.0.0.1:9002 --nats nats://127.0.0.1:4222   # one instance of a cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/bench/internal/memstat"
	"github.com/megaframework/mega/internal/rawws"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	mode := flag.String("mode", "broadcast", "broadcast (reader + writer per connection) or reader (reader only, nothing sent)")
	queue := flag.Int("queue", rawws.DefaultQueue, "frames buffered per connection before it is dropped")
	natsURL := flag.String("nats", "", "NATS URL: publish every frame there and deliver what other instances publish")
	subject := flag.String("subject", rawws.DefaultSubject, "with --nats: the subject")
	flag.Parse()
	if *mode != "broadcast" && *mode != "reader" {
		log.Fatalf("rawws: --mode must be broadcast or reader, got %q", *mode)
	}
	if *queue < 1 {
		log.Fatalf("rawws: --queue must be at least 1, got %d", *queue)
	}
	opts := rawws.Options{Reader: *mode == "reader", Queue: *queue, Subject: *subject}
	if *natsURL != "" {
		nc, err := nats.Connect(*natsURL)
		if err != nil {
			log.Fatalf("rawws: nats: %v", err)
		}
		defer nc.Close()
		opts.NATS = nc
	}
	s, err := rawws.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/mem", memstat.Handler)
	mux.Handle("/", s)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rawws (%s) listening on ws://%s/\n", *mode, ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
