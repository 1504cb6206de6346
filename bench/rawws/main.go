// Command rawws is the baseline mega's fan-out is measured against: a
// minimal broadcast server on plain coder/websocket. Every text message a
// client sends is broadcast as is to every connected client (the sender
// too): the frame is "encoded" once — it is the received bytes — and each
// connection has one writer goroutine fed by a buffered channel. A client
// whose channel is full is dropped.
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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/bench/internal/memstat"
)

type conn struct {
	ws  *websocket.Conn
	out chan []byte
}

type server struct {
	reader bool
	queue  int

	mu    sync.RWMutex
	conns map[*conn]struct{}

	nc      *nats.Conn // nil without --nats
	subject string
	id      []byte // this instance's prefix on what it publishes
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	mode := flag.String("mode", "broadcast", "broadcast (reader + writer per connection) or reader (reader only, nothing sent)")
	queue := flag.Int("queue", 256, "frames buffered per connection before it is dropped")
	natsURL := flag.String("nats", "", "NATS URL: publish every frame there and deliver what other instances publish")
	subject := flag.String("subject", "rawws.broadcast", "with --nats: the subject")
	flag.Parse()
	if *mode != "broadcast" && *mode != "reader" {
		log.Fatalf("rawws: --mode must be broadcast or reader, got %q", *mode)
	}
	s := &server{reader: *mode == "reader", queue: *queue, conns: map[*conn]struct{}{}, subject: *subject}
	if *natsURL != "" {
		nc, err := nats.Connect(*natsURL)
		if err != nil {
			log.Fatalf("rawws: nats: %v", err)
		}
		defer nc.Close()
		s.nc = nc
		s.id = []byte(strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(os.Getpid()) + ":")
		if _, err := nc.Subscribe(s.subject, s.remote); err != nil {
			log.Fatalf("rawws: subscribe: %v", err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/mem", memstat.Handler)
	mux.HandleFunc("/", s.serveWS)

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

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	if s.reader {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}
	c := &conn{ws: ws, out: make(chan []byte, s.queue)}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range c.out {
			if err := ws.Write(context.Background(), websocket.MessageText, f); err != nil {
				ws.CloseNow()
				for range c.out { // drain until the reader closes it
				}
				return
			}
		}
	}()
	for {
		_, frame, err := ws.Read(context.Background())
		if err != nil {
			break
		}
		s.broadcast(frame)
		if s.nc != nil {
			_ = s.nc.Publish(s.subject, append(append(make([]byte, 0, len(s.id)+len(frame)), s.id...), frame...))
		}
	}
	s.mu.Lock()
	delete(s.conns, c)
	close(c.out)
	s.mu.Unlock()
	<-done
}

// remote delivers a frame another instance published.
func (s *server) remote(m *nats.Msg) {
	if len(m.Data) >= len(s.id) && string(m.Data[:len(s.id)]) == string(s.id) {
		return // our own echo
	}
	i := 0
	for i < len(m.Data) && m.Data[i] != ':' {
		i++
	}
	if i < len(m.Data) {
		s.broadcast(m.Data[i+1:])
	}
}

// broadcast hands the same frame to every connection's writer.
func (s *server) broadcast(frame []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.conns {
		select {
		case c.out <- frame:
		default:
			c.ws.CloseNow() // too slow: its reader ends and removes it
		}
	}
}
