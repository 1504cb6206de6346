// Package rawws is the baseline mega's fan-out is measured against: a
// minimal broadcast server on plain coder/websocket, used by the bench/rawws
// command (bench/run.sh) and by the framework's Go benchmarks, so both
// compare against the same server.
//
// Every text message a client sends is broadcast as is to every connected
// client (the sender too): the frame is "encoded" once — it is the received
// bytes — and each connection has one writer goroutine fed by a buffered
// channel. A client whose channel is full is dropped.
//
// In reader mode (Options.Reader), connections only run a reader goroutine
// and nothing is broadcast: the idle-connection baseline.
//
// With Options.NATS, instances form a cluster the plainest way: every frame
// is delivered locally, then published as is (behind this instance's id)
// on one subject with nats.go's defaults; a callback subscription delivers
// what other instances published and skips this instance's own echo. It is
// the baseline of the cross-instance hop (raw NATS pub/sub).
package rawws

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
)

// Defaults of Options.
const (
	DefaultQueue   = 256
	DefaultSubject = "rawws.broadcast"
)

// Options configure a Server.
type Options struct {
	// Reader runs connections in reader mode: a reader goroutine only,
	// nothing broadcast.
	Reader bool

	// Queue is how many frames a connection buffers before it is dropped.
	// Zero means DefaultQueue.
	Queue int

	// NATS, when not nil, joins the server to the instances that publish
	// on Subject through it. The caller keeps ownership of the connection.
	NATS *nats.Conn

	// Subject is the NATS subject; empty means DefaultSubject.
	Subject string
}

// Server is the baseline broadcast server. It serves a WebSocket on every
// path. Create it with New.
type Server struct {
	reader bool
	queue  int

	mu    sync.RWMutex
	conns map[*conn]struct{}

	nc      *nats.Conn // nil without Options.NATS
	sub     *nats.Subscription
	subject string
	id      []byte // this instance's prefix on what it publishes
}

type conn struct {
	ws  *websocket.Conn
	out chan []byte
}

// New returns a server with o. With o.NATS it subscribes to the subject
// at once; Close unsubscribes.
func New(o Options) (*Server, error) {
	s := &Server{
		reader:  o.Reader,
		queue:   o.Queue,
		conns:   map[*conn]struct{}{},
		subject: o.Subject,
		nc:      o.NATS,
	}
	if s.queue <= 0 {
		s.queue = DefaultQueue
	}
	if s.subject == "" {
		s.subject = DefaultSubject
	}
	if s.nc != nil {
		s.id = []byte(strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(os.Getpid()) + ":")
		sub, err := s.nc.Subscribe(s.subject, s.remote)
		if err != nil {
			return nil, fmt.Errorf("rawws: subscribe %q: %w", s.subject, err)
		}
		s.sub = sub
	}
	return s, nil
}

// Close stops delivering what other instances publish. It does not close
// connections or the NATS connection.
func (s *Server) Close() error {
	if s.sub == nil {
		return nil
	}
	if err := s.sub.Unsubscribe(); err != nil {
		return fmt.Errorf("rawws: unsubscribe: %w", err)
	}
	return nil
}

// Conns returns how many connections receive broadcasts (none in reader
// mode).
func (s *Server) Conns() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}

// ServeHTTP accepts a WebSocket and serves it until it closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		s.Broadcast(frame)
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
func (s *Server) remote(m *nats.Msg) {
	if len(m.Data) >= len(s.id) && string(m.Data[:len(s.id)]) == string(s.id) {
		return // our own echo
	}
	i := 0
	for i < len(m.Data) && m.Data[i] != ':' {
		i++
	}
	if i < len(m.Data) {
		s.Broadcast(m.Data[i+1:])
	}
}

// Broadcast hands the same frame to every connection's writer, locally
// only (it does not publish to NATS). A connection whose queue is full is
// closed: too slow, its reader ends and removes it.
func (s *Server) Broadcast(frame []byte) {
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
