package mega

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/megaframework/mega/framework/hub"
)

// Member is one joined session as the roster shows it. It encodes as
// {"ns","sessionId","userId","channels","metadata"}.
type Member = hub.Member

// PresenceOp is a kind of roster change: PresenceJoin, PresenceUpdate or
// PresenceLeave.
type PresenceOp uint8

// The roster changes a PresenceEvent reports.
const (
	PresenceJoin   = PresenceOp(hub.OpJoin)
	PresenceUpdate = PresenceOp(hub.OpUpdate)
	PresenceLeave  = PresenceOp(hub.OpLeave)
)

// String returns the name presence frames use: "join", "update" or "leave".
func (o PresenceOp) String() string { return hub.Op(o).String() }

// PresenceEvent is one change of a namespace's roster, local or from
// another instance.
type PresenceEvent struct {
	// Op says whether the member joined, updated its metadata or left.
	Op PresenceOp
	// Member is the member after the change (as it was, for a leave). Its
	// Channels and Metadata are shared: read them, do not modify them.
	Member Member
	// Remote is true when the change happened on another instance.
	Remote bool
}

// Meta is presence metadata: explicit fields only, encoded as a JSON object.
type Meta map[string]any

// Entry is what a connection joins presence as.
type Entry struct {
	// UserID defaults to the authenticated user (Ctx.User().ID). When an
	// auth hook resolved a user, a different UserID is refused.
	UserID string
	// SessionID defaults to a fresh crypto-random id. A supplied id must not
	// be live anywhere in the cluster.
	SessionID string
	// Channels are the sub-channels this session receives broadcasts for.
	Channels []string
	// Metadata is shown to everyone who lists the roster.
	Metadata Meta
}

// Broadcast is a message to every connection of the namespace on every
// instance, optionally only those joined to Channel and never the sessions
// in Except.
type Broadcast struct {
	Channel string
	Type    string
	Payload any
	Except  []string
}

// UserPresence groups one user's sessions.
type UserPresence struct {
	UserID   string
	Sessions []Member
}

// Presence is the roster and fan-out API bound to one connection and its
// namespace. Members are removed automatically when the connection closes.
type Presence struct {
	c *Ctx
}

// Join maps the connection to an identity and registers it in the roster
// of the namespace, visible on every instance. With WithAuthorize, every
// sub-channel of e.Channels must be allowed, or Join fails with an error
// matching ErrForbidden and nothing changes.
func (p *Presence) Join(e Entry) error {
	c := p.c
	limits := c.conn.limits
	user := c.User()
	if e.UserID == "" {
		e.UserID = user.ID
	}
	switch {
	case e.UserID == "":
		return fmt.Errorf("%w: a user id is required (set Entry.UserID or use an auth hook)", ErrInvalidEntry)
	case user.ID != "" && e.UserID != user.ID:
		return fmt.Errorf("%w: user id %q differs from the authenticated user", ErrInvalidEntry, e.UserID)
	case len(e.Channels) > limits.MaxChannels:
		return fmt.Errorf("%w: %d sub-channels, at most %d allowed", ErrInvalidEntry, len(e.Channels), limits.MaxChannels)
	}
	meta, err := p.encodeMeta(e.Metadata)
	if err != nil {
		return err
	}
	if err := c.authorizeChannels(e.Channels); err != nil {
		return err
	}
	if e.SessionID == "" {
		e.SessionID = newSessionID()
	}
	err = c.conn.app.hub.Join(c.conn.hc, hub.Member{
		SessionID: e.SessionID,
		UserID:    e.UserID,
		Channels:  e.Channels,
		Metadata:  meta,
	})
	return hubError(err)
}

func (p *Presence) encodeMeta(m Meta) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrInvalidEntry, err)
	}
	if max := p.c.conn.limits.MaxMetadata; len(b) > max {
		return nil, fmt.Errorf("%w: metadata is %d bytes, at most %d allowed", ErrInvalidEntry, len(b), max)
	}
	return b, nil
}

func hubError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hub.ErrSessionTaken):
		return ErrSessionTaken
	case errors.Is(err, hub.ErrAlreadyJoined):
		return ErrAlreadyJoined
	case errors.Is(err, hub.ErrNotJoined):
		return ErrNotJoined
	case errors.Is(err, hub.ErrDetached):
		return ErrClosed
	}
	return err
}

// Update replaces the connection's presence metadata; everyone sees an
// update event.
func (p *Presence) Update(meta Meta) error {
	b, err := p.encodeMeta(meta)
	if err != nil {
		return err
	}
	return hubError(p.c.conn.app.hub.Update(p.c.conn.hc, b))
}

// Leave removes the connection from the roster while keeping it open.
func (p *Presence) Leave() error { return hubError(p.c.conn.app.hub.Leave(p.c.conn.hc)) }

// Self returns this connection's member and whether it has joined.
func (p *Presence) Self() (Member, bool) { return p.c.conn.hc.Member() }

// List returns every member of the namespace sorted by session id,
// cluster-wide when a cluster roster is wired (else this instance's). The
// slice is a copy the caller owns: sort it, append to it, keep it.
func (p *Presence) List() []Member { return p.c.conn.app.List(p.c.conn.mount.ns) }

// Users returns the members of the namespace grouped by user, in user order
// of first session id. Like List, it is a copy the caller owns.
func (p *Presence) Users() []UserPresence {
	var out []UserPresence
	index := map[string]int{}
	for _, m := range p.List() {
		i, ok := index[m.UserID]
		if !ok {
			i = len(out)
			index[m.UserID] = i
			out = append(out, UserPresence{UserID: m.UserID})
		}
		out[i].Sessions = append(out[i].Sessions, m)
	}
	return out
}

// Broadcast sends b to the connection's namespace on every instance, like
// App.Broadcast. To reach a sub-channel, b.Channel must be one the
// recipients joined (Entry.Channels); a connection that has not joined
// presence gets only broadcasts without a Channel.
func (p *Presence) Broadcast(b Broadcast) error { return p.c.conn.app.broadcast(p.c.conn.mount, b) }

// DirectToUser sends msg to every session of userID, in every namespace of
// the app, on every instance: App.DirectToUser.
func (p *Presence) DirectToUser(userID string, msg Push) error {
	return p.c.conn.app.DirectToUser(userID, msg)
}

// newSessionID returns 128 random bits, URL-safe base64 encoded.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}
