// Package cluster connects the hubs of every instance of an app over core
// NATS (no JetStream).
//
// A Cluster implements hub.Outbound: the local hub reports broadcasts,
// directs, local roster changes and namespace interest to it, and the Cluster
// publishes them once to NATS. What arrives from other instances is handed
// back to the hub through the Local interface.
//
// Fan-out: each broadcast or direct is published once, on a subject of its
// namespace; an instance subscribes to a namespace's subject only while it
// has a connection there, and skips its own echo, so every client receives a
// message exactly once.
//
// Roster: every instance publishes its local roster changes as numbered
// deltas and a small periodic heartbeat (sequence number and member count).
// A peer that misses a delta notices the gap and fetches that instance's
// full state in chunks of about 32 KB. Instances silent for TTL are dropped,
// a stopping instance says "bye" in one message. See docs/cluster.md.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/hub"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Local is the part of the hub the cluster delivers into. Its methods are
// called from one goroutine of the Cluster, never while the Cluster holds a
// lock.
type Local interface {
	// DeliverBroadcast delivers a frame to the local connections of ns,
	// limited to channel when it is not empty and skipping the sessions in except.
	DeliverBroadcast(ns, channel string, except []string, frame []byte)
	// DeliverDirect delivers a frame to the local sessions of userID, in
	// every namespace.
	DeliverDirect(userID string, frame []byte)
	// ApplyRemote applies one join, update or leave of a member of another instance.
	ApplyRemote(instance string, op hub.Op, m hub.Member)
	// ReplaceInstance sets the full member set of another instance; the hub
	// emits events only for what actually changed.
	ReplaceInstance(instance string, members []hub.Member)
	// DropInstance removes every member of another instance, emitting leave events.
	DropInstance(instance string)
}

// Roster drivers, the values of wsCluster.roster.driver in mega.yaml.
const (
	// RosterNATS shares the roster between instances over NATS (the default).
	RosterNATS = config.RosterNATS
	// RosterNone keeps the roster local; broadcasts and directs are still clustered.
	RosterNone = config.RosterNone
)

// Defaults for Options. The subject prefix and TTL are mega.yaml's
// defaults, declared once in package config.
const (
	DefaultSubjectPrefix = config.DefaultSubjectPrefix
	DefaultTTL           = config.DefaultRosterTTL
	DefaultSyncWait      = 200 * time.Millisecond
	// DefaultPendingMsgs is the default capacity of the inbound data queue.
	DefaultPendingMsgs = 8192
	// MinTTL is the smallest TTL New accepts.
	MinTTL = 60 * time.Millisecond
)

// ctrlPendingMsgs is the capacity of the inbound roster queue. Roster
// messages are at most 64 KB, mostly far smaller; a starting instance
// receives about 64 chunks per 20,000 members of each peer at once.
const ctrlPendingMsgs = 4096

// Errors. Every error New returns for bad options wraps ErrInvalidOptions.
var (
	ErrInvalidOptions = errors.New("cluster: invalid options")
	ErrStarted        = errors.New("cluster: already started")
	ErrStopped        = errors.New("cluster: stopped")
)

// Options configure a Cluster. Zero values mean the defaults.
type Options struct {
	// App is the app name; subjects are <SubjectPrefix>.<App>.… It must be a
	// valid NATS subject token (no '.', '*', '>' or whitespace).
	App string
	// SubjectPrefix is prepended to every subject; default "mega.ws". One or
	// more valid tokens joined by dots.
	SubjectPrefix string
	// Roster is "nats" (default: the roster is shared by all instances) or
	// "none" (the roster stays local; fan-out is still clustered).
	Roster string
	// TTL is how long an instance may stay silent before the others drop
	// its members (default 10s). Heartbeats go out every TTL/3.
	TTL time.Duration
	// Logger receives the cluster's logs; the zero value logs nothing.
	Logger zerolog.Logger
	// InstanceID names this instance; default 16 crypto-random bytes in hex.
	// It must be unique per boot across the cluster and a valid subject token
	// of at most 64 bytes.
	InstanceID string
	// SyncWait is how long Start keeps waiting for further peers after the
	// last one replied (default 200ms). Start is bounded overall by its ctx.
	SyncWait time.Duration
	// PendingMsgs is the capacity of the inbound data queue in messages
	// (default 8192). It is the NATS pending limit of the namespace
	// subscriptions: when the queue is full, NATS drops the message and the
	// drop is counted in Stats.Dropped.
	PendingMsgs int
}

// Stats are cumulative counters of one Cluster.
type Stats struct {
	BroadcastsPublished uint64 // broadcasts sent to NATS
	BroadcastsReceived  uint64 // broadcasts from other instances delivered to the hub
	DirectsPublished    uint64 // directs sent to NATS
	DirectsReceived     uint64 // directs from other instances delivered to the hub
	RosterPublished     uint64 // roster messages sent (deltas, heartbeats, chunks, requests, bye)
	RosterReceived      uint64 // roster messages received from other instances
	BytesPublished      uint64 // payload bytes sent
	BytesReceived       uint64 // payload bytes received (echoes included)
	Echoes              uint64 // own messages received back and skipped
	Dropped             uint64 // inbound messages NATS dropped because a queue was full (slow consumer)
	Malformed           uint64 // inbound messages rejected as malformed
	PublishErrors       uint64 // publishes NATS refused (closed connection, payload too big, …)
	StateFetches        uint64 // full-state requests sent to a peer after a gap
	StatesServed        uint64 // full states sent to peers
	Resyncs             uint64 // resyncs (explicit or after a detected reconnect)
	InstancesDropped    uint64 // peers dropped because they were silent for TTL
	InstancesLeft       uint64 // peers that said bye
	Peers               int    // peers currently tracked
}

type counters struct {
	bPub, bRecv, dPub, dRecv, rPub, rRecv       atomic.Uint64
	bytesPub, bytesRecv, echoes, malformed      atomic.Uint64
	pubErrs, fetches, served, resyncs, ttlDrops atomic.Uint64
	byes                                        atomic.Uint64
	peers                                       atomic.Int64
}

// lifecycle states.
const (
	stateNew = iota
	stateStarted
	stateStopped
)

// Cluster links the hub of this instance to the hubs of the others. It is
// safe for concurrent use. Create it with New, then Start; Stop ends it.
type Cluster struct {
	nc       *nats.Conn
	local    Local
	log      zerolog.Logger
	id       string
	roster   bool
	ttl      time.Duration
	syncWait time.Duration
	hbEvery  time.Duration
	sweep    time.Duration
	fetchTO  time.Duration

	base       string // "<prefix>.<app>"
	rosterSubj string
	stateSubj  string // this instance's state subject
	replySubj  string // this instance's reply subject
	directSubj string // "<base>.d": directs to a user, whatever the namespace
	nsSubjects subjectCache
	subjectNS  sync.Map // namespace subject -> namespace, for subscribed namespaces

	dataCh chan *nats.Msg
	ctrlCh chan *nats.Msg

	// mu guards the fields below. It is never held while calling the hub.
	mu        sync.Mutex
	state     int
	members   map[string]hub.Member // local members by ns+"\x00"+session id
	seq       uint64                // sequence number of the last local change
	pending   []delta               // local changes not yet handed to the writer
	interest  map[string]*nats.Subscription
	directSub *nats.Subscription // while interest is not empty
	ctrlSubs  []*nats.Subscription
	goneDrop  uint64 // drops counted by subscriptions already unsubscribed

	kick    chan struct{}  // writer: pending deltas
	hbNow   chan struct{}  // writer: heartbeat now
	serve   chan serveReq  // writer: answer a sync, ping or state request
	resync  chan struct{}  // reader: resync requested
	stop    chan struct{}  // closed by Stop
	wg      sync.WaitGroup // reader and writer
	readyCh chan struct{}  // closed when the first sync completed
	synced  atomic.Bool
	stopped atomic.Bool // set with state = stateStopped, read on the publish path
	reqIDs  atomic.Uint64

	st counters

	peerIDs peerSet // the reader's peers, for Peers
}

var _ hub.Outbound = (*Cluster)(nil)

// New validates opts and returns a Cluster that is not started yet. The
// hub's Outbound may point at it right away: broadcasts are published from
// the start, roster changes are recorded and announced once Start runs.
func New(nc *nats.Conn, local Local, opts Options) (*Cluster, error) {
	var problems []string
	if nc == nil {
		problems = append(problems, "nats connection is nil")
	}
	if local == nil {
		problems = append(problems, "local hub is nil")
	}
	if !validToken(opts.App) {
		problems = append(problems, fmt.Sprintf("app: must be a valid NATS subject token, got %q", opts.App))
	}
	if opts.SubjectPrefix == "" {
		opts.SubjectPrefix = DefaultSubjectPrefix
	} else if !config.ValidSubjectPrefix(opts.SubjectPrefix) {
		problems = append(problems, fmt.Sprintf("subjectPrefix: must be valid NATS subject tokens joined by dots, got %q", opts.SubjectPrefix))
	}
	switch opts.Roster {
	case "":
		opts.Roster = RosterNATS
	case RosterNATS, RosterNone:
	default:
		problems = append(problems, fmt.Sprintf("roster: must be %q or %q, got %q", RosterNATS, RosterNone, opts.Roster))
	}
	switch {
	case opts.TTL == 0:
		opts.TTL = DefaultTTL
	case opts.TTL < MinTTL:
		problems = append(problems, fmt.Sprintf("ttl: must be at least %s, got %s", MinTTL, opts.TTL))
	}
	switch {
	case opts.SyncWait == 0:
		opts.SyncWait = DefaultSyncWait
	case opts.SyncWait < 0:
		problems = append(problems, fmt.Sprintf("syncWait: must not be negative, got %s", opts.SyncWait))
	}
	switch {
	case opts.PendingMsgs == 0:
		opts.PendingMsgs = DefaultPendingMsgs
	case opts.PendingMsgs < 0:
		problems = append(problems, fmt.Sprintf("pendingMsgs: must not be negative, got %d", opts.PendingMsgs))
	}
	if opts.InstanceID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("cluster: instance id: %w", err)
		}
		opts.InstanceID = hex.EncodeToString(b[:])
	} else if !validToken(opts.InstanceID) || len(opts.InstanceID) > 64 {
		problems = append(problems, fmt.Sprintf("instanceID: must be a valid NATS subject token of at most 64 bytes, got %q", opts.InstanceID))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}

	base := opts.SubjectPrefix + "." + opts.App
	c := &Cluster{
		nc:         nc,
		local:      local,
		id:         opts.InstanceID,
		roster:     opts.Roster == RosterNATS,
		ttl:        opts.TTL,
		syncWait:   opts.SyncWait,
		hbEvery:    opts.TTL / 3,
		sweep:      max(opts.TTL/10, 20*time.Millisecond),
		fetchTO:    min(max(opts.TTL/3, 250*time.Millisecond), 3*time.Second),
		base:       base,
		rosterSubj: base + ".roster",
		stateSubj:  base + ".state." + opts.InstanceID,
		replySubj:  base + ".reply." + opts.InstanceID,
		directSubj: base + ".d",
		dataCh:     make(chan *nats.Msg, opts.PendingMsgs),
		ctrlCh:     make(chan *nats.Msg, ctrlPendingMsgs),
		members:    make(map[string]hub.Member),
		interest:   make(map[string]*nats.Subscription),
		kick:       make(chan struct{}, 1),
		hbNow:      make(chan struct{}, 1),
		serve:      make(chan serveReq, 64),
		resync:     make(chan struct{}, 1),
		stop:       make(chan struct{}),
		readyCh:    make(chan struct{}),
	}
	c.nsSubjects.prefix = base + ".n."
	c.log = opts.Logger.With().Str("component", "cluster").Str("app", opts.App).Str("instance", c.id).Logger()
	return c, nil
}

// InstanceID returns the id of this instance, unique per boot.
func (c *Cluster) InstanceID() string { return c.id }

// Start subscribes, announces this instance and, with the "nats" roster,
// fetches the full roster from every peer. It returns nil once the view is
// complete (no peer replied for SyncWait and every peer's state arrived), or
// an error when ctx ends first; the Cluster keeps syncing in the background
// then, and Stop must still be called.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	switch c.state {
	case stateStarted:
		c.mu.Unlock()
		return ErrStarted
	case stateStopped:
		c.mu.Unlock()
		return ErrStopped
	}
	c.state = stateStarted
	c.wg.Add(2) // under mu, so a concurrent Stop waits for the goroutines
	var err error
	if c.roster {
		for _, subj := range []string{c.rosterSubj, c.stateSubj, c.replySubj} {
			var s *nats.Subscription
			if s, err = c.nc.ChanSubscribe(subj, c.ctrlCh); err != nil {
				err = fmt.Errorf("cluster: subscribe %s: %w", subj, err)
				break
			}
			c.ctrlSubs = append(c.ctrlSubs, s)
		}
	}
	if err == nil && len(c.interest) > 0 {
		err = c.subscribeDirectLocked()
	}
	for ns := range c.interest {
		if err == nil {
			err = c.subscribeNSLocked(ns)
		}
	}
	c.mu.Unlock()

	r := newReader(c)
	go func() { defer c.wg.Done(); r.run() }()
	go func() { defer c.wg.Done(); c.writeLoop() }()
	if err != nil {
		return err
	}

	fctx, cancel := flushContext(ctx)
	err = c.nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: start: flush: %w", err)
	}
	if !c.roster {
		c.markSynced()
		c.log.Debug().Msg("cluster started (roster: none)") // the boot reports it at info
		return nil
	}
	// The reader sends the sync request once it runs (see reader.run).
	select {
	case <-c.readyCh:
		c.log.Debug().Int("peers", int(c.st.peers.Load())).Msg("cluster started and synced") // the boot reports it at info
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: start: waiting for the roster sync: %w", ctx.Err())
	case <-c.stop:
		return ErrStopped
	}
}

func (c *Cluster) markSynced() {
	if c.synced.CompareAndSwap(false, true) {
		close(c.readyCh)
	}
}

// flushContext returns ctx, given a deadline of 5s if it has none (a NATS
// flush needs one).
func flushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 5*time.Second)
}

// Ready reports whether the first sync completed, the Cluster is not
// stopped and the NATS connection is up.
func (c *Cluster) Ready() bool {
	if !c.synced.Load() || !c.nc.IsConnected() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateStarted
}

// Resync re-announces this instance and checks every peer's roster version,
// fetching the state of those that changed while messages were lost. Call it
// after a NATS reconnect; the Cluster also does it by itself when it notices
// one. It does not block.
func (c *Cluster) Resync() {
	select {
	case c.resync <- struct{}{}:
	default:
	}
}

// Stop says bye to the peers (one message: they drop this instance's members
// at once), unsubscribes and waits for the Cluster's goroutines. It returns
// an error only when ctx ends before they finished. Stop is idempotent.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	prev := c.state
	c.state = stateStopped
	c.stopped.Store(true)
	c.mu.Unlock()
	if prev == stateStopped {
		return nil
	}
	close(c.stop)
	if prev == stateNew {
		return nil
	}

	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("cluster: stop: %w", ctx.Err())
	}

	// The writer published bye on its way out; now stop receiving and push
	// the bye to the server.
	c.mu.Lock()
	for ns, s := range c.interest {
		c.unsubscribeLocked(ns, s)
	}
	c.unsubscribeLocked("", c.directSub)
	c.directSub = nil
	for _, s := range c.ctrlSubs {
		c.unsubscribeLocked("", s)
	}
	c.ctrlSubs = nil
	c.mu.Unlock()
	if c.nc.IsConnected() {
		fctx, cancel := flushContext(ctx)
		if err := c.nc.FlushWithContext(fctx); err != nil {
			c.log.Warn().Err(err).Msg("cluster stop: flush failed; peers will drop this instance after TTL")
		}
		cancel()
	}
	c.log.Info().Msg("cluster stopped")
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Cluster) Stats() Stats {
	return Stats{
		BroadcastsPublished: c.st.bPub.Load(),
		BroadcastsReceived:  c.st.bRecv.Load(),
		DirectsPublished:    c.st.dPub.Load(),
		DirectsReceived:     c.st.dRecv.Load(),
		RosterPublished:     c.st.rPub.Load(),
		RosterReceived:      c.st.rRecv.Load(),
		BytesPublished:      c.st.bytesPub.Load(),
		BytesReceived:       c.st.bytesRecv.Load(),
		Echoes:              c.st.echoes.Load(),
		Dropped:             c.dropped(),
		Malformed:           c.st.malformed.Load(),
		PublishErrors:       c.st.pubErrs.Load(),
		StateFetches:        c.st.fetches.Load(),
		StatesServed:        c.st.served.Load(),
		Resyncs:             c.st.resyncs.Load(),
		InstancesDropped:    c.st.ttlDrops.Load(),
		InstancesLeft:       c.st.byes.Load(),
		Peers:               int(c.st.peers.Load()),
	}
}

// dropped sums the slow-consumer drops of all subscriptions, past and present.
func (c *Cluster) dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.goneDrop
	for _, s := range c.interest {
		n += subDropped(s)
	}
	n += subDropped(c.directSub)
	for _, s := range c.ctrlSubs {
		n += subDropped(s)
	}
	return n
}

func subDropped(s *nats.Subscription) uint64 {
	if s == nil {
		return 0
	}
	if d, err := s.Dropped(); err == nil && d > 0 {
		return uint64(d)
	}
	return 0
}

// publish sends one message and counts it as roster traffic.
func (c *Cluster) publishRoster(subj, reply string, b []byte) {
	var err error
	if reply == "" {
		err = c.nc.Publish(subj, b)
	} else {
		err = c.nc.PublishRequest(subj, reply, b)
	}
	if err != nil {
		c.st.pubErrs.Add(1)
		c.log.Debug().Err(err).Str("subject", subj).Msg("cluster: roster publish failed")
		return
	}
	c.st.rPub.Add(1)
	c.st.bytesPub.Add(uint64(len(b)))
}
