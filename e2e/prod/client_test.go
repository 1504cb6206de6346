//go:build unix

package prod_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/megaframework/mega/internal/testkit"
)

// The browser client's reconnection policy (DEFAULT_BACKOFF in
// framework/client/client.js), which the test's clients follow.
const (
	backoffBase   = 250 * time.Millisecond // ceiling of the first retry
	backoffCap    = 10 * time.Second       // largest ceiling
	backoffStable = 5 * time.Second        // a connection this old resets the attempt count
	backoffDrain  = 2 * time.Second        // smallest ceiling after a 1001
	hintMax       = 60 * time.Second       // largest retry=<ms> honoured
	dialTimeout   = 5 * time.Second        // one WebSocket dial
	requestWait   = 2 * time.Second        // a reply to a request
)

// retryRe is the browser client's retryHint pattern.
var retryRe = regexp.MustCompile(`(?:^|[\s;,])retry=(\d{1,9})(?:ms)?(?:$|[\s;,])`)

// retryHint reads "retry=<ms>" from a close reason; 0 when absent.
func retryHint(reason string) time.Duration {
	m := retryRe.FindStringSubmatch(reason)
	if m == nil {
		return 0
	}
	ms, _ := strconv.Atoi(m[1])
	return time.Duration(ms) * time.Millisecond
}

// backoffDelay is client.js's backoffDelay: a uniformly random wait in
// [0, ceiling), where the ceiling grows with the attempt, is at least
// backoffDrain after a 1001 and at least the server's retry=<ms> hint.
// (The penalty codes do not occur in this test.)
func backoffDelay(attempt int, code websocket.StatusCode, reason string) time.Duration {
	ceiling := min(backoffCap, backoffBase<<min(attempt, 30))
	if code == websocket.StatusGoingAway {
		ceiling = max(ceiling, backoffDrain)
	}
	if hint := retryHint(reason); hint > 0 {
		ceiling = max(ceiling, min(hint, hintMax))
	}
	return time.Duration(rand.Int64N(int64(ceiling)))
}

// member is a roster entry as the app sends it.
type member struct {
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
}

// closing is how one connection of a client ended.
type closing struct {
	at     time.Time
	code   websocket.StatusCode // -1 without a close frame
	reason string
	delay  time.Duration // the backoff chosen before the next dial
}

// client is a WebSocket client of one app instance that reconnects the way
// the browser client does, and keeps what the test asks about: its session,
// its view of the roster (the welcome's list, then every presence change),
// the chat messages it got, and when it connected and was closed.
type client struct {
	name string
	url  string

	mu       sync.Mutex
	ws       *websocket.Conn   // nil while disconnected
	self     string            // session id of the current connection
	view     map[string]string // session id -> user id
	leaves   int               // presence leaves seen, over all connections
	said     map[string]int    // chat text -> deliveries, over all connections
	welcomes []time.Time       // when each connection got its welcome
	closes   []closing
	dialErrs int
	pending  map[string]chan []member
	refSeq   int
	lastErr  string // the last error frame, for failure reports

	stop context.CancelFunc
	done chan struct{}
}

// connect starts a client of the instance at url as user name and waits
// until it has its welcome. It reconnects until the test ends.
func connect(t *testing.T, name, url string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{
		name: name, url: url + "?name=" + name,
		view: map[string]string{}, said: map[string]int{}, pending: map[string]chan []member{},
		stop: cancel, done: make(chan struct{}),
	}
	go c.run(ctx)
	t.Cleanup(c.close)
	testkit.WaitFor(t, readyTimeout, name+"'s welcome", func() bool { return c.connects() >= 1 })
	return c
}

// close stops reconnecting, closes the connection and waits for the
// client's goroutine.
func (c *client) close() {
	c.stop()
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.Close(websocket.StatusNormalClosure, "")
	}
	<-c.done
}

// run dials, serves the connection until it ends, waits the backoff and
// dials again, until ctx ends.
func (c *client) run(ctx context.Context) {
	defer close(c.done)
	attempt := 0
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		ws, _, err := websocket.Dial(dctx, c.url, nil)
		cancel()
		if err != nil {
			// A failed dial is a close without a frame (the browser's 1006).
			c.mu.Lock()
			c.dialErrs++
			c.mu.Unlock()
			delay := backoffDelay(attempt, websocket.StatusAbnormalClosure, "")
			attempt++
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		opened := time.Now()
		code, reason := c.serve(ctx, ws)
		if ctx.Err() != nil {
			return
		}
		if time.Since(opened) >= backoffStable {
			attempt = 0
		}
		delay := backoffDelay(attempt, code, reason)
		attempt++
		c.mu.Lock()
		c.closes = append(c.closes, closing{at: time.Now(), code: code, reason: reason, delay: delay})
		c.mu.Unlock()
		if !sleep(ctx, delay) {
			return
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve reads ws until it ends and returns its close code and reason.
func (c *client) serve(ctx context.Context, ws *websocket.Conn) (websocket.StatusCode, string) {
	ws.SetReadLimit(-1)
	c.mu.Lock()
	c.ws = ws
	c.mu.Unlock()
	var err error
	for {
		var data []byte
		if _, data, err = ws.Read(ctx); err != nil {
			break
		}
		c.receive(data)
	}
	_ = ws.CloseNow()
	c.mu.Lock()
	c.ws = nil
	c.self = ""
	for ref, ch := range c.pending {
		close(ch)
		delete(c.pending, ref)
	}
	c.mu.Unlock()
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, ""
}

// frame is one message from the server.
type frame struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Ref     string          `json:"ref"`
}

// receive applies one frame to the client's state.
func (c *client) receive(data []byte) {
	var f frame
	if json.Unmarshal(data, &f) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch f.Type {
	case "welcome":
		var w struct {
			Self    string   `json:"self"`
			Members []member `json:"members"`
		}
		if json.Unmarshal(f.Payload, &w) != nil {
			return
		}
		// A new connection starts from the roster it was given; changes
		// that arrived before it are already in it.
		c.self = w.Self
		c.view = map[string]string{}
		for _, m := range w.Members {
			c.view[m.SessionID] = m.UserID
		}
		c.welcomes = append(c.welcomes, time.Now())
	case "presence.join", "presence.update":
		var m member
		if json.Unmarshal(f.Payload, &m) == nil {
			c.view[m.SessionID] = m.UserID
		}
	case "presence.leave":
		var m member
		if json.Unmarshal(f.Payload, &m) == nil {
			delete(c.view, m.SessionID)
			c.leaves++
		}
	case "presence.diff":
		var d struct{ Joins, Leaves, Updates []member }
		if json.Unmarshal(f.Payload, &d) != nil {
			return
		}
		for _, m := range d.Leaves {
			delete(c.view, m.SessionID)
			c.leaves++
		}
		for _, m := range append(d.Joins, d.Updates...) {
			c.view[m.SessionID] = m.UserID
		}
	case "said":
		var p struct{ Text string }
		if json.Unmarshal(f.Payload, &p) == nil {
			c.said[p.Text]++
		}
	case "roster":
		var list []member
		if ch, ok := c.pending[f.Ref]; ok && json.Unmarshal(f.Payload, &list) == nil {
			delete(c.pending, f.Ref)
			ch <- list
		}
	case "error":
		c.lastErr = string(f.Payload)
	}
}

// errDisconnected is a request on a client that is not connected.
var errDisconnected = errors.New("not connected")

// write sends one message on the current connection.
func (c *client) write(typ string, payload any, ref string) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws == nil {
		return errDisconnected
	}
	msg := map[string]any{"type": typ}
	if payload != nil {
		msg["payload"] = payload
	}
	if ref != "" {
		msg["ref"] = ref
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestWait)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}

// say broadcasts a chat message.
func (c *client) say(text string) error {
	return c.write("send", map[string]string{"text": text}, "")
}

// roster asks the instance for its cluster-wide roster.
func (c *client) roster() ([]member, error) {
	c.mu.Lock()
	c.refSeq++
	ref := "r" + strconv.Itoa(c.refSeq)
	ch := make(chan []member, 1)
	c.pending[ref] = ch
	c.mu.Unlock()
	if err := c.write("roster", nil, ref); err != nil {
		c.mu.Lock()
		delete(c.pending, ref)
		c.mu.Unlock()
		return nil, err
	}
	select {
	case list, ok := <-ch:
		if !ok {
			return nil, errDisconnected
		}
		return list, nil
	case <-time.After(requestWait):
		c.mu.Lock()
		delete(c.pending, ref)
		c.mu.Unlock()
		return nil, errors.New("no roster reply within " + requestWait.String())
	}
}

// got returns how many times the chat message text arrived.
func (c *client) got(text string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.said[text]
}

// connects returns how many connections got their welcome.
func (c *client) connects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.welcomes)
}

// lastWelcome returns when the current connection got its welcome.
func (c *client) lastWelcome() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.welcomes) == 0 {
		return time.Time{}
	}
	return c.welcomes[len(c.welcomes)-1]
}

// session returns the current connection's session id ("" while
// disconnected).
func (c *client) session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// viewSessions returns the sorted session ids of the client's roster view.
func (c *client) viewSessions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.view))
	for s := range c.view {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// presenceLeaves returns how many presence leaves the client was told of.
func (c *client) presenceLeaves() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaves
}

// lastClose returns how the client's last connection ended.
func (c *client) lastClose() (closing, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.closes) == 0 {
		return closing{}, false
	}
	return c.closes[len(c.closes)-1], true
}

// refusedDials returns how many of the client's dials failed.
func (c *client) refusedDials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialErrs
}

// closeCount returns how many of the client's connections ended.
func (c *client) closeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.closes)
}
