// Package megatest is the test kit for mega apps, in the spirit of
// Phoenix's ChannelTest: start an app on a loopback test server, dial real
// WebSocket clients, push messages and expect frames with deadlines.
//
//	srv := megatest.Start(t, app)
//	ann := srv.Dial(t, "/ws/chat?name=ann")
//	ann.Expect(t, "welcome")
//	ann.Push(t, "chat.send", map[string]string{"text": "hi"})
//	ann.Expect(t, "chat.message")
package megatest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	mega "github.com/megaframework/mega/framework"
)

// Timeout is how long Expect and friends wait by default.
var Timeout = 5 * time.Second

// Server is an app served on a loopback httptest server.
type Server struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:43210".
	URL string
	// App is the app under test.
	App *mega.App
	// Instance is the booted process when the server came from BootCluster.
	Instance *mega.Instance
}

// Start serves app on a new loopback server. The app is shut down and the
// server closed when the test ends.
func Start(t testing.TB, app *mega.App) *Server {
	t.Helper()
	return Serve(t, app, app)
}

// Serve is Start for any handler that serves app (for example a boot
// stage's mux with middleware around the app).
func Serve(t testing.TB, app *mega.App, h http.Handler) *Server {
	t.Helper()
	srv := httptest.NewServer(h)
	s := &Server{URL: srv.URL, App: app}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("megatest: app shutdown: %v", err)
		}
		srv.Close()
	})
	return s
}

// WebSocketURL returns the ws:// URL of path on the server.
func (s *Server) WebSocketURL(path string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

// Frame is one message the server sent.
type Frame struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Ref     string          `json:"ref,omitempty"`
	// Raw is the frame exactly as received.
	Raw []byte `json:"-"`
}

// Decode unmarshals the frame's payload into v and fails the test if it
// does not decode.
func (f Frame) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Payload, v); err != nil {
		t.Fatalf("megatest: decode payload of %q (%s): %v", f.Type, f.Payload, err)
	}
}

// Client is a real WebSocket client connected to a Server.
type Client struct {
	ws *websocket.Conn

	mu      sync.Mutex
	frames  []Frame
	changes []PresenceChange // presence changes, from single frames and diffs
	count   int              // the last presence.count, -1 before one
	closed  error            // why the read loop ended
	wake    chan struct{}
	done    chan struct{}
}

// DialOptions configure Dial.
type DialOptions struct {
	// Header is sent with the upgrade request (e.g. Origin, Authorization).
	Header http.Header
}

// Dial opens a WebSocket to path (with its query) and fails the test when
// the upgrade is refused. The client is closed when the test ends.
func (s *Server) Dial(t testing.TB, path string) *Client {
	t.Helper()
	c, resp, err := s.DialErr(path, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("megatest: dial %s: %v (HTTP %d)", path, err, status)
	}
	t.Cleanup(c.Close)
	return c
}

// DialErr opens a WebSocket and returns the error and HTTP response of a
// refused upgrade instead of failing; the caller closes the client.
func (s *Server) DialErr(path string, opts *DialOptions) (*Client, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var do websocket.DialOptions
	if opts != nil {
		do.HTTPHeader = opts.Header
	}
	ws, resp, err := websocket.Dial(ctx, s.WebSocketURL(path), &do)
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(-1)
	c := &Client{ws: ws, wake: make(chan struct{}, 1), done: make(chan struct{}), count: -1}
	go c.read()
	return c, resp, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.closed = err
			c.mu.Unlock()
			c.signal()
			return
		}
		f := Frame{Raw: data}
		if json.Unmarshal(data, &f) != nil {
			f.Type = "!malformed"
		}
		c.frames = append(c.frames, f)
		c.notePresence(f)
		c.mu.Unlock()
		c.signal()
	}
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close closes the connection normally and waits for the client's reader.
func (c *Client) Close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// Push sends a message of type typ with payload (encoded to JSON).
func (c *Client) Push(t testing.TB, typ string, payload any) {
	t.Helper()
	c.PushRef(t, typ, payload, "")
}

// PushRef sends a message carrying ref, so replies and errors can be matched.
func (c *Client) PushRef(t testing.TB, typ string, payload any, ref string) {
	t.Helper()
	msg := map[string]any{"type": typ}
	if payload != nil {
		msg["payload"] = payload
	}
	if ref != "" {
		msg["ref"] = ref
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("megatest: encode %q: %v", typ, err)
	}
	c.PushRaw(t, b)
}

// PushRaw sends data as one text frame exactly as given (for malformed input).
func (c *Client) PushRaw(t testing.TB, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatalf("megatest: push: %v", err)
	}
}

// take removes and returns the first buffered frame of type typ.
func (c *Client) take(typ string) (Frame, bool) {
	for i, f := range c.frames {
		if f.Type == typ {
			c.frames = append(c.frames[:i], c.frames[i+1:]...)
			return f, true
		}
	}
	return Frame{}, false
}

// Expect waits up to Timeout for a frame of type typ, removes it from the
// buffer and returns it. Frames of other types stay buffered.
func (c *Client) Expect(t testing.TB, typ string) Frame {
	t.Helper()
	f, err := c.ExpectWithin(typ, Timeout)
	if err != nil {
		t.Fatalf("megatest: %v", err)
	}
	return f
}

// ExpectWithin is Expect with an explicit timeout, returning an error
// instead of failing the test.
func (c *Client) ExpectWithin(typ string, d time.Duration) (Frame, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		f, ok := c.take(typ)
		closed := c.closed
		have := c.types()
		c.mu.Unlock()
		if ok {
			return f, nil
		}
		if closed != nil {
			return Frame{}, &expectError{typ: typ, why: "connection closed: " + closed.Error(), have: have}
		}
		select {
		case <-c.wake:
		case <-deadline.C:
			return Frame{}, &expectError{typ: typ, why: "timed out after " + d.String(), have: have}
		}
	}
}

type expectError struct {
	typ, why string
	have     []string
}

func (e *expectError) Error() string {
	return "expected a " + e.typ + " frame: " + e.why + "; buffered: [" + strings.Join(e.have, ", ") + "]"
}

func (c *Client) types() []string {
	out := make([]string, len(c.frames))
	for i, f := range c.frames {
		out[i] = f.Type
	}
	return out
}

// ExpectNone fails the test if a frame of type typ is buffered or arrives
// within d. Absence can only be shown by waiting, so keep d short and call
// it after something that proves the server has processed the trigger.
func (c *Client) ExpectNone(t testing.TB, typ string, d time.Duration) {
	t.Helper()
	if f, err := c.ExpectWithin(typ, d); err == nil {
		t.Fatalf("megatest: expected no %s frame, got %s", typ, f.Raw)
	}
}

// Count returns how many buffered frames have type typ.
func (c *Client) Count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if f.Type == typ {
			n++
		}
	}
	return n
}

// ExpectClose waits for the server to close the connection and returns the
// close code (-1 when the connection dropped without a close frame).
func (c *Client) ExpectClose(t testing.TB) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(Timeout):
		t.Fatalf("megatest: expected the server to close the connection within %s", Timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(websocket.CloseStatus(c.closed))
}

// Conn returns the underlying WebSocket for tests that need raw control
// (e.g. to stop reading).
func (c *Client) Conn() *websocket.Conn { return c.ws }

// PresenceChange is one roster change a client was told about, whether it
// came alone (presence.join, presence.update, presence.leave) or inside a
// presence.diff.
type PresenceChange struct {
	// Op is "join", "update" or "leave".
	Op string
	// Member is the member the change is about.
	Member mega.Member
}

// notePresence records the presence changes frame f carries; c.mu is held.
func (c *Client) notePresence(f Frame) {
	switch f.Type {
	case "presence.join", "presence.update", "presence.leave":
		var m mega.Member
		if json.Unmarshal(f.Payload, &m) == nil {
			c.changes = append(c.changes, PresenceChange{Op: strings.TrimPrefix(f.Type, "presence."), Member: m})
		}
	case "presence.diff":
		var d struct{ Joins, Leaves, Updates []mega.Member }
		if json.Unmarshal(f.Payload, &d) != nil {
			return
		}
		// The members of a diff are distinct sessions: their order does
		// not matter; leaves first keeps a reading of them simple.
		for _, m := range d.Leaves {
			c.changes = append(c.changes, PresenceChange{Op: "leave", Member: m})
		}
		for _, m := range d.Joins {
			c.changes = append(c.changes, PresenceChange{Op: "join", Member: m})
		}
		for _, m := range d.Updates {
			c.changes = append(c.changes, PresenceChange{Op: "update", Member: m})
		}
	case "presence.count":
		var p struct{ Count int }
		if json.Unmarshal(f.Payload, &p) == nil {
			c.count = p.Count
		}
	}
}

// ExpectPresence waits up to Timeout for a presence change of op ("join",
// "update" or "leave"), removes it and returns its member. It does not care
// whether the change came as its own frame or inside a presence.diff (a
// channel batches changes that come close together); the frames themselves
// stay buffered for Expect.
func (c *Client) ExpectPresence(t testing.TB, op string) mega.Member {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, ch := range c.changes {
			if ch.Op == op {
				c.changes = append(c.changes[:i], c.changes[i+1:]...)
				c.mu.Unlock()
				return ch.Member
			}
		}
		closed, pending := c.closed, len(c.changes)
		c.mu.Unlock()
		if closed != nil {
			t.Fatalf("megatest: expected a presence %s: connection closed: %v (%d other changes buffered)", op, closed, pending)
		}
		select {
		case <-c.wake:
		case <-deadline.C:
			t.Fatalf("megatest: expected a presence %s within %s (%d other changes buffered)", op, Timeout, pending)
		}
	}
}

// TakePresence removes and returns every buffered presence change, in the
// order the client received them: applied in that order (join and update
// set the member, leave deletes it) they give the client's view of the
// roster.
func (c *Client) TakePresence() []PresenceChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.changes
	c.changes = nil
	return out
}

// PresenceChanges returns how many presence changes of op are buffered
// (not yet taken by ExpectPresence).
func (c *Client) PresenceChanges(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ch := range c.changes {
		if ch.Op == op {
			n++
		}
	}
	return n
}

// PresenceCount returns the count of the last presence.count frame
// (WithPresenceCount), or -1 when none arrived.
func (c *Client) PresenceCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}
