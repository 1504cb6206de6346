package mega

import (
	"context"
	"net/http"
	"sync"

	"github.com/rs/zerolog"
)

// Ctx is the per-connection context handed to every channel callback. It
// lives as long as the connection; its methods are safe for concurrent use,
// so a channel may keep it and send from other goroutines.
type Ctx struct {
	// Presence is bound to this connection and its namespace.
	Presence *Presence

	ctx  context.Context
	conn *conn
	id   string
	req  *http.Request
	user User // under stateMu: a token refresh replaces it
	log  zerolog.Logger

	stateMu sync.Mutex
	state   map[string]any
}

// Context returns a context that is cancelled when the connection ends.
func (c *Ctx) Context() context.Context { return c.ctx }

// Request returns the HTTP request that opened the WebSocket. Its Context
// is the connection's (see Context), not the finished HTTP exchange's.
func (c *Ctx) Request() *http.Request { return c.req }

// ConnID returns the connection's id, unique within this process.
func (c *Ctx) ConnID() string { return c.id }

// Namespace returns the namespace (WebSocket path) of the connection.
func (c *Ctx) Namespace() string { return c.conn.mount.ns }

// User returns the identity the auth hook resolved (or the latest
// token.refresh proved); it is empty without an auth hook.
func (c *Ctx) User() User {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.user
}

// setUser replaces the user after a token refresh.
func (c *Ctx) setUser(u User) {
	c.stateMu.Lock()
	c.user = u
	c.stateMu.Unlock()
}

// Log returns the connection's logger, carrying app, namespace, connection
// and user fields.
func (c *Ctx) Log() *zerolog.Logger { return &c.log }

// Set stores per-connection state under key.
func (c *Ctx) Set(key string, value any) {
	c.stateMu.Lock()
	if c.state == nil {
		c.state = make(map[string]any)
	}
	c.state[key] = value
	c.stateMu.Unlock()
}

// Get returns the per-connection state stored under key, or nil.
func (c *Ctx) Get(key string) any {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.state[key]
}

// Send sends this connection a message of type typ. The payload is encoded
// to JSON; a json.RawMessage is sent as is.
func (c *Ctx) Send(typ string, payload any) error {
	return c.send(typ, payload, "")
}

// Reply answers msg: it sends a message of type typ carrying msg's ref.
func (c *Ctx) Reply(msg Message, typ string, payload any) error {
	return c.send(typ, payload, msg.Ref)
}

func (c *Ctx) send(typ string, payload any, ref string) error {
	frame, err := encodeFrame(typ, payload, ref)
	if err != nil {
		return err
	}
	if !c.conn.enqueue(frame) {
		return ErrClosed
	}
	return nil
}

// Close closes the connection with a WebSocket close code (see the Close*
// constants; 4000–4999 are free for applications) and a reason.
func (c *Ctx) Close(code int, reason string) { c.conn.closeWith(code, reason) }
