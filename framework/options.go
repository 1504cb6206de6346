package mega

import (
	"time"

	"github.com/rs/zerolog"
)

// Limits bound what one connection may cost. Every limit is on by default;
// DefaultLimits documents the values.
type Limits struct {
	// ReadLimit is the largest frame a client may send, in bytes. A larger
	// frame closes the connection with 1009.
	ReadLimit int64
	// SendQueue is how many bytes may wait to be written to one client.
	// When a client reads too slowly and its queue would exceed this, it is
	// closed with CloseSlowClient (4008); others are never delayed. One
	// frame bigger than SendQueue (a welcome carrying a big roster) is
	// accepted when the queue is empty, and the limit applies on top of it
	// until it is written.
	SendQueue int
	// PingInterval is how often an otherwise idle connection is pinged.
	PingInterval time.Duration
	// PongTimeout is how long a ping may wait for its pong before the
	// connection is considered dead and closed.
	PongTimeout time.Duration
	// MessagesPerSecond is the sustained rate of messages a client may send;
	// Burst is how many it may send at once. Exceeding them closes the
	// connection with CloseRateLimited (4029).
	MessagesPerSecond float64
	Burst             int
	// MaxMetadata is the largest presence metadata, in bytes of JSON.
	MaxMetadata int
	// MaxChannels is how many sub-channels one connection may join.
	MaxChannels int
	// MaxConnectionsPerIP caps concurrent connections from one client IP to
	// this app on this instance; MaxConnectionsPerUser caps those of one
	// authenticated user. Over a cap the upgrade is refused with 429. A
	// negative value means unlimited. Behind a reverse proxy every client has
	// the proxy's address: raise the IP cap or make it unlimited there.
	MaxConnectionsPerIP   int
	MaxConnectionsPerUser int
	// AllowedOrigins lists host patterns (path.Match syntax, e.g.
	// "*.example.com") allowed to open WebSockets from a browser besides the
	// server's own origin. Empty means same origin only: other sites cannot
	// open connections with your users' cookies.
	AllowedOrigins []string
}

// DefaultLimits returns the limits every app starts with: 64 KiB frames,
// a 1 MiB send queue, pings every 25 s with a 15 s pong timeout, 50 messages
// per second with bursts of 100, 4 KiB of presence metadata, 32 sub-channels
// per connection, 256 connections per client IP and 32 per user, and
// same-origin browsers only.
func DefaultLimits() Limits {
	return Limits{
		ReadLimit:         64 << 10,
		SendQueue:         1 << 20,
		PingInterval:      25 * time.Second,
		PongTimeout:       15 * time.Second,
		MessagesPerSecond: 50,
		Burst:             100,
		MaxMetadata:       4 << 10,
		MaxChannels:       32,

		MaxConnectionsPerIP:   256,
		MaxConnectionsPerUser: 32,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits { return DefaultLimits().merge(&l) }

// Option configures an App.
type Option func(*App)

// WithLogger sets the app's logger; connection loggers derive from it.
func WithLogger(l zerolog.Logger) Option { return func(a *App) { a.log = l } }

// WithLimits sets the app-wide connection limits; zero fields keep their
// defaults.
func WithLimits(l Limits) Option { return func(a *App) { a.limits = l.withDefaults() } }

// ChannelOption configures one mounted channel.
type ChannelOption func(*mount)

// WithAuth resolves the user of each connection before the upgrade. Without
// it connections are anonymous (User.ID is empty) and Presence.Join needs an
// explicit UserID.
func WithAuth(fn AuthFunc) ChannelOption { return func(m *mount) { m.auth = fn } }

// WithPresenceEvents makes the framework send presence frames to every
// connection of the namespace on every instance whenever the roster
// changes, including members of a crashed instance. A lone change comes at
// once as presence.join, presence.update or presence.leave (payload: the
// member; a member's own connection does not get it); changes that follow
// within DefaultPresenceBatch come together as one presence.diff
// {joins, leaves, updates} (see WithPresenceBatch). Applying the frames in
// order — join and update set a member, leave deletes it — gives the exact
// roster, so a room of thousands joining at once costs each client a few
// frames per second, not one per join.
func WithPresenceEvents() ChannelOption { return func(m *mount) { m.presenceFrames = true } }

// WithPresenceBatch sets how long presence changes are collected into one
// presence.diff after a change was sent (default DefaultPresenceBatch);
// d < 0 sends every change as its own frame. It implies WithPresenceEvents.
func WithPresenceBatch(d time.Duration) ChannelOption {
	return func(m *mount) {
		m.presenceFrames = true
		m.presenceBatch = d
		if d == 0 {
			m.presenceBatch = DefaultPresenceBatch
		}
	}
}

// WithPresenceCount makes presence count-only: instead of members, every
// connection of the namespace gets presence.count {count} (the cluster-wide
// member count) when it changes, at most once per d (DefaultPresenceCount
// when d <= 0). Use it for namespaces of many thousands of members, where
// clients show "1,234 online" rather than a list: a member list costs every
// client a frame per change, a count a few frames per second however large
// the crowd. It replaces WithPresenceEvents.
func WithPresenceCount(d time.Duration) ChannelOption {
	return func(m *mount) {
		if d <= 0 {
			d = DefaultPresenceCount
		}
		m.presenceCount = d
	}
}

// WithChannelLimits overrides the app's limits for this channel; zero
// fields keep the app's values.
func WithChannelLimits(l Limits) ChannelOption {
	return func(m *mount) { m.override = &l }
}

// merge returns base with the non-zero fields of o applied.
func (base Limits) merge(o *Limits) Limits {
	if o == nil {
		return base
	}
	if o.ReadLimit > 0 {
		base.ReadLimit = o.ReadLimit
	}
	if o.SendQueue > 0 {
		base.SendQueue = o.SendQueue
	}
	if o.PingInterval > 0 {
		base.PingInterval = o.PingInterval
	}
	if o.PongTimeout > 0 {
		base.PongTimeout = o.PongTimeout
	}
	if o.MessagesPerSecond > 0 {
		base.MessagesPerSecond = o.MessagesPerSecond
	}
	if o.Burst > 0 {
		base.Burst = o.Burst
	}
	if o.MaxMetadata > 0 {
		base.MaxMetadata = o.MaxMetadata
	}
	if o.MaxChannels > 0 {
		base.MaxChannels = o.MaxChannels
	}
	if o.AllowedOrigins != nil {
		base.AllowedOrigins = o.AllowedOrigins
	}
	if o.MaxConnectionsPerIP != 0 {
		base.MaxConnectionsPerIP = o.MaxConnectionsPerIP
	}
	if o.MaxConnectionsPerUser != 0 {
		base.MaxConnectionsPerUser = o.MaxConnectionsPerUser
	}
	return base
}
