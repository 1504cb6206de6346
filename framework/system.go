package mega

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// This file holds the message types the framework answers itself, before a
// channel's OnMessage sees them (token.refresh here, history.get and
// history.recover in history.go), and the auth pieces they rest on: token
// expiry and the sub-channel authorization hook.

// systemHandler serves one message type for every connection of a mount.
// It runs on the connection's read loop, like OnMessage; a returned error
// becomes the client's error frame.
type systemHandler func(c *conn, msg Message) error

// handleSystem registers h for message type typ on the mount.
func (m *mount) handleSystem(typ string, h systemHandler) {
	if m.system == nil {
		m.system = make(map[string]systemHandler)
	}
	m.system[typ] = h
}

// Close codes of authentication and authorization.
const (
	// CloseTokenExpired closes a connection whose user's credentials
	// expired (User.ExpiresAt) and were not refreshed in time.
	CloseTokenExpired = 4001
	// CloseForbidden closes a connection whose OnConnect returned an error
	// matching ErrForbidden, e.g. a Presence.Join that WithAuthorize refused.
	CloseForbidden = 4003
)

// Error codes of authentication and authorization.
const (
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
)

// TokenRefreshFunc checks a fresh credential a connected client sent with
// token.refresh and returns the user it proves, with its new ExpiresAt.
type TokenRefreshFunc func(ctx context.Context, token string) (User, error)

// AuthorizeFunc decides whether the connection may use sub-channel channel:
// join it (Presence.Join with it in Entry.Channels) or read its history. A
// nil error allows; any error refuses, and the caller sees one matching
// ErrForbidden.
type AuthorizeFunc func(c *Ctx, channel string) error

// WithTokenRefresh lets clients renew their credentials over the open
// socket. When the auth hook sets User.ExpiresAt, the connection is closed
// with CloseTokenExpired (4001) at that time; a client that sends
// token.refresh {token} before then keeps it open: fn checks the token, the
// user it returns must be the connection's, and its ExpiresAt becomes the
// new deadline (zero: none). The reply is token.refreshed {expiresAt}; a
// refused token gets an error frame with code "unauthorized" and the old
// deadline stays.
func WithTokenRefresh(fn TokenRefreshFunc) ChannelOption {
	return func(m *mount) {
		m.handleSystem("token.refresh", func(c *conn, msg Message) error { return c.refreshToken(fn, msg) })
	}
}

// WithAuthorize sets the hook that decides which sub-channels a connection
// may use. Presence.Join asks it for every entry of Entry.Channels and
// fails with an error matching ErrForbidden when one is refused (returned
// from OnConnect, that closes the socket with CloseForbidden, 4003); the
// history of a sub-channel is served only to connections it allows.
// Without it every sub-channel is allowed.
func WithAuthorize(fn AuthorizeFunc) ChannelOption { return func(m *mount) { m.authorize = fn } }

// BearerToken returns the credential a non-browser client presents: the
// token of an "Authorization: Bearer <token>" header, else the "token"
// query parameter (browsers cannot set headers on a WebSocket), else "".
// Auth hooks use it; never log what it returns.
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return r.URL.Query().Get("token")
}

// authorizeChannels asks the mount's AuthorizeFunc about each channel.
func (c *Ctx) authorizeChannels(channels []string) error {
	fn := c.conn.mount.authorize
	if fn == nil {
		return nil
	}
	for _, ch := range channels {
		if err := fn(c, ch); err != nil {
			if errors.Is(err, ErrForbidden) {
				return fmt.Errorf("sub-channel %q: %w", ch, err)
			}
			return fmt.Errorf("%w: sub-channel %q: %v", ErrForbidden, ch, err)
		}
	}
	return nil
}

// armExpiry schedules the close of a connection whose credentials expire
// at t; a zero t disarms it. It reports false when the deadline already
// fired or the connection is closing.
func (c *conn) armExpiry(t time.Time) bool {
	c.expMu.Lock()
	defer c.expMu.Unlock()
	if c.ended || c.t.Closed() {
		return false
	}
	if c.expiry != nil && !c.expiry.Stop() {
		return false // fired: the close is under way
	}
	c.expiry = nil
	if !t.IsZero() {
		c.expiry = time.AfterFunc(time.Until(t), c.expire)
	}
	return true
}

// disarmExpiry stops the expiry for good when the connection ends.
func (c *conn) disarmExpiry() {
	c.expMu.Lock()
	c.ended = true
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.expMu.Unlock()
}

// expire closes a connection whose credentials ran out.
func (c *conn) expire() {
	c.ctx.log.Info().Msg("credentials expired; closing with 4001")
	c.closeWith(CloseTokenExpired, "token expired")
}

// tokenRefreshed is the payload of token.refreshed.
type tokenRefreshed struct {
	ExpiresAt *time.Time `json:"expiresAt"`
}

// refreshToken serves token.refresh {token}.
func (c *conn) refreshToken(fn TokenRefreshFunc, msg Message) error {
	var p struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(msg.Payload, &p); err != nil || p.Token == "" {
		return BadRequest(`token.refresh needs {"token": "..."}`)
	}
	u, err := fn(c.ctx.ctx, p.Token)
	if err != nil {
		c.ctx.log.Info().Err(err).Msg("token refresh refused")
		return NewError(CodeUnauthorized, "token refused")
	}
	if u.ID != c.ctx.User().ID {
		c.ctx.log.Warn().Str("tokenUser", u.ID).Msg("token refresh for another user refused")
		return NewError(CodeForbidden, "the token is for another user")
	}
	if !u.ExpiresAt.IsZero() && !time.Now().Before(u.ExpiresAt) {
		return NewError(CodeUnauthorized, "token already expired")
	}
	if !c.armExpiry(u.ExpiresAt) {
		return NewError(CodeUnauthorized, "token expired before the refresh")
	}
	c.ctx.setUser(u)
	var out tokenRefreshed
	if !u.ExpiresAt.IsZero() {
		out.ExpiresAt = &u.ExpiresAt
	}
	return c.ctx.Reply(msg, "token.refreshed", out)
}
