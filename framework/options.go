package mega

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/config"
)

// Limits bound what one connection may cost: the largest inbound frame,
// the send queue, keepalive, the message rate, presence metadata,
// sub-channels per connection, connections per client IP and per user, and
// the origins allowed. Its fields are those of [config.Limits], documented
// there with their mega.yaml keys (websocket: and appConfig.<app>.websocket:),
// so Go and mega.yaml set the same limits with the same meaning:
//
//	mega.WithLimits(mega.Limits{ReadLimit: 1 << 20, MaxConnectionsPerIP: -1})
//
// Every limit is on by default (DefaultLimits). A zero field means "not
// set": WithLimits fills it from DefaultLimits, WithChannelLimits from the
// app's limits. Only the connection caps can be turned off, with -1
// ([config.Unlimited]).
type Limits config.Limits

// DefaultLimits returns the limits every app starts with: 64 KiB frames,
// a 1 MiB send queue, pings every 25 s with a 15 s pong timeout, 50 messages
// per second with bursts of 100, 4 KiB of presence metadata, 32 sub-channels
// per connection, 256 connections per client IP and 32 per user, and
// same-origin browsers only: [config.DefaultLimits], mega.yaml's defaults.
func DefaultLimits() Limits { return Limits(config.DefaultLimits()) }

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits { return DefaultLimits().merge(&l) }

// Option configures an App.
type Option func(*App)

// WithLogger sets the app's logger; connection loggers derive from it.
func WithLogger(l zerolog.Logger) Option { return func(a *App) { a.log = l } }

// WithLimits sets the app-wide connection limits; zero fields keep their
// defaults. Env.NewApp applies mega.yaml's limits this way first; a
// WithLimits passed to it replaces them, its zero fields taking the
// defaults rather than mega.yaml's values.
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

// merge returns base with the fields set in o applied (config.Limits.With).
func (base Limits) merge(o *Limits) Limits {
	if o == nil {
		return base
	}
	return Limits(config.Limits(base).With(config.Limits(*o)))
}
