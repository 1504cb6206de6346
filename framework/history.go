package mega

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/history"
)

// History says what a channel keeps of the broadcasts to each of its
// sub-channels (Broadcast.Channel). Zero fields take DefaultHistory's.
type History struct {
	// Size is how many messages each sub-channel keeps.
	Size int
	// TTL is how long a message is kept.
	TTL time.Duration
	// MaxBytes bounds the bytes the whole channel keeps; 0 means no bound
	// besides Size and TTL.
	MaxBytes int64
	// Replicas is how many JetStream servers hold a copy (1 to 5; more than
	// 1 needs a clustered JetStream).
	Replicas int
}

// DefaultHistory keeps the last 100 messages of each sub-channel for 10
// minutes, on one JetStream server.
var DefaultHistory = History{Size: 100, TTL: 10 * time.Minute, Replicas: 1}

// withDefaults fills zero fields from DefaultHistory.
func (h History) withDefaults() History {
	if h.Size <= 0 {
		h.Size = DefaultHistory.Size
	}
	if h.TTL <= 0 {
		h.TTL = DefaultHistory.TTL
	}
	if h.Replicas <= 0 {
		h.Replicas = DefaultHistory.Replicas
	}
	return h
}

// WithHistory keeps the broadcasts to the channel's sub-channels in NATS
// JetStream (the bus of mega.yaml's wsCluster; the embedded server runs
// JetStream for it), so that clients can read recent messages and recover
// what they missed while away. Every such frame carries "channel", "epoch"
// and "offset" next to its type and payload; the framework serves
// history.get {channel, limit} and history.recover {channel, epoch, offset}
// (see docs/history.md), for the sub-channels WithAuthorize allows.
// Broadcasts without a Channel are not kept. mega.yaml's
// appConfig.<app>.channels.<namespace>.history can turn it on, tune it or
// turn it off without a code change.
func WithHistory(h History) ChannelOption {
	return func(m *mount) { m.setHistory(&h) }
}

// setHistory turns the channel's history on with h (defaults filled in),
// or off when h is nil.
func (m *mount) setHistory(h *History) {
	if h == nil {
		m.history = nil
		delete(m.system, "history.get")
		delete(m.system, "history.recover")
		return
	}
	hd := h.withDefaults()
	m.history = &hd
	m.handleSystem("history.get", func(c *conn, msg Message) error { return c.historyGet(msg) })
	m.handleSystem("history.recover", func(c *conn, msg Message) error { return c.historyRecover(msg) })
}

// chanHistory is a mounted channel's history once boot wired it: the
// JetStream log of its namespace and what this instance delivered of it.
type chanHistory struct {
	app   *App
	m     *mount
	store *history.Store
	cfg   history.Config

	// mu orders live delivery against the start of a history read: a read
	// serves what was delivered up to its start and holds the connection's
	// later frames until it has answered (see transport.Conn.Hold).
	mu        sync.Mutex
	delivered uint64       // offset of the last message delivered on this instance
	life      *historyLife // the stream now; replaced when it was lost

	renewMu  sync.Mutex // one renewal at a time
	checkMu  sync.Mutex // guards stopped and checks.Add
	stopped  bool       // stop was called: no check or new life starts
	checks   sync.WaitGroup
	checking atomic.Bool   // a check runs: consumer errors meanwhile start none
	done     chan struct{} // closed by stop: checks end
}

// historyLife is one life of a namespace's stream: its log, its epoch and
// this instance's consumer of it. A stream lost and created again is a new
// life with a new epoch.
type historyLife struct {
	log     *history.Log
	epoch   string
	consume jetstream.ConsumeContext
}

// now returns the current life.
func (h *chanHistory) now() *historyLife {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.life
}

// errNoHistory answers history requests on a channel whose history is not
// wired: the app was not booted with a wsCluster.
var errNoHistory = NewError(CodeUnavailable, "history is not available on this server")

// CodeUnavailable is the error code of a request the server cannot serve
// now, e.g. history while JetStream is unreachable.
const CodeUnavailable = "unavailable"

// wireHistory opens the JetStream log of m and starts delivering it.
func (a *App) wireHistory(ctx context.Context, store *history.Store, m *mount) error {
	h := m.history
	ch := &chanHistory{app: a, m: m, store: store, done: make(chan struct{}),
		cfg: history.Config{Size: h.Size, TTL: h.TTL, MaxBytes: h.MaxBytes, Replicas: h.Replicas}}
	if err := ch.renew(ctx, false); err != nil {
		return err
	}
	m.hist.Store(ch)
	return nil
}

// renew creates or updates the namespace's stream and, when it is a new
// life (at boot, or after the stream was lost), starts consuming it: at
// boot after its last message (what was stored before was delivered by
// the instances then running), after a loss from its first (none of the
// new life's messages was delivered here yet).
func (h *chanHistory) renew(ctx context.Context, lost bool) error {
	h.renewMu.Lock()
	defer h.renewMu.Unlock()
	lg, err := h.store.Namespace(ctx, h.m.ns, h.cfg)
	if err != nil {
		return err
	}
	old := h.now()
	if old != nil && old.epoch == lg.Epoch() {
		return nil // the same stream: nothing was lost
	}
	life := &historyLife{log: lg, epoch: lg.Epoch()}
	after := uint64(0)
	if !lost {
		after = history.Latest
	}
	// Deliveries of the new life wait on mu until delivered starts where
	// its consumer does. The old consumer is stopped after mu is released:
	// Stop waits for its callbacks, which may be waiting on mu.
	h.mu.Lock()
	cc, from, err := lg.Consume(ctx, after, func(e history.Entry) { h.deliver(life, e) }, h.consumeFailed)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	life.consume = cc
	h.life, h.delivered = life, from
	h.mu.Unlock()
	if old != nil {
		old.consume.Stop()
		h.app.log.Warn().Str("ns", h.m.ns).Str("epoch", life.epoch).Str("was", old.epoch).
			Msg("history: the stream was lost and created again; positions of the old epoch cannot be recovered")
	}
	return nil
}

// consumeFailed checks, in the background, whether a consumer error means
// the stream was lost (deleted, or its server's store wiped); if so the
// history starts a new life. It runs on the consumer's goroutine, so it
// never waits on mu.
func (h *chanHistory) consumeFailed(error) {
	if !h.checking.CompareAndSwap(false, true) {
		return
	}
	h.checkMu.Lock()
	if h.stopped {
		h.checkMu.Unlock()
		h.checking.Store(false)
		return
	}
	h.checks.Add(1)
	h.checkMu.Unlock()
	go func() {
		defer h.checks.Done()
		defer h.checking.Store(false)
		// Until the stream answers (NATS may be coming back), every second.
		for wait := time.Duration(0); ; wait = time.Second {
			select {
			case <-h.done:
				return
			case <-time.After(wait):
			}
			if h.check() == nil {
				return
			}
		}
	}()
}

// check compares the stream's epoch with the current life's and starts a
// new life when the stream was lost.
func (h *chanHistory) check() error {
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	life := h.now()
	epoch, err := life.log.CurrentEpoch(ctx)
	switch {
	case err == nil && epoch == life.epoch:
		return nil // a reconnect or a blip: the ordered consumer carries on
	case err != nil && !errors.Is(err, jetstream.ErrStreamNotFound):
		return err // no answer yet
	}
	if err := h.renew(ctx, true); err != nil {
		h.app.log.Warn().Err(err).Str("ns", h.m.ns).Msg("history: stream unavailable; trying again")
		return err
	}
	return nil
}

// stop ends the delivery of a channel's history.
func (h *chanHistory) stop() {
	h.checkMu.Lock()
	if !h.stopped {
		h.stopped = true
		close(h.done)
	}
	h.checkMu.Unlock()
	h.checks.Wait()
	h.renewMu.Lock() // no renewal runs or starts: the last life is final
	defer h.renewMu.Unlock()
	if life := h.now(); life != nil && life.consume != nil {
		life.consume.Stop()
	}
}

// deliver sends one stored message of life to the local connections
// joined to its sub-channel: the JetStream consumer calls it in offset
// order. Messages of a life that ended are dropped.
func (h *chanHistory) deliver(life *historyLife, e history.Entry) {
	frame := historyFrame(e.Data, e.Channel, life.epoch, e.Offset)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.life != life {
		return
	}
	h.delivered = e.Offset
	h.app.hub.DeliverBroadcast(h.m.ns, e.Channel, e.Except, frame)
}

// publish stores a broadcast to a sub-channel; every instance's consumer,
// this one's included, delivers it. When the stream is gone it is created
// again (a new epoch) and the publish retried once.
func (h *chanHistory) publish(b Broadcast, frame []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	// The first try gets part of the time: a stream being deleted or
	// created again may take a request and never answer it.
	first, cancelFirst := context.WithTimeout(ctx, historyTimeout/3)
	_, err := h.now().log.Publish(first, b.Channel, frame, b.Except)
	cancelFirst()
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, context.DeadlineExceeded) {
		if err = h.renew(ctx, true); err == nil {
			_, err = h.now().log.Publish(ctx, b.Channel, frame, b.Except)
		}
	}
	if err != nil {
		return fmt.Errorf("mega: keep broadcast to %q of %s: %w", b.Channel, h.m.ns, err)
	}
	return nil
}

// historyTimeout bounds one JetStream request of the history.
const historyTimeout = 5 * time.Second

// historyFrame turns a stored {"type","payload"} frame into the one clients
// get: the same with "channel", "epoch" and "offset" added.
func historyFrame(data []byte, channel, epoch string, offset uint64) []byte {
	if len(data) == 0 || data[len(data)-1] != '}' {
		return data
	}
	f := make([]byte, 0, len(data)+len(channel)+len(epoch)+48)
	f = append(f, data[:len(data)-1]...)
	f = append(f, `,"channel":`...)
	f = appendString(f, channel)
	f = append(f, `,"epoch":`...)
	f = appendString(f, epoch)
	f = append(f, `,"offset":`...)
	f = strconv.AppendUint(f, offset, 10)
	return append(f, '}')
}

// historyGetIn is the payload of history.get.
type historyGetIn struct {
	Channel string `json:"channel"`
	Limit   int    `json:"limit"`
}

// historyOut is the payload of the history reply.
type historyOut struct {
	Channel  string            `json:"channel"`
	Epoch    string            `json:"epoch"`
	Offset   uint64            `json:"offset"`
	Messages []json.RawMessage `json:"messages"`
}

// recoverIn is the payload of history.recover.
type recoverIn struct {
	Channel string `json:"channel"`
	Epoch   string `json:"epoch"`
	Offset  uint64 `json:"offset"`
}

// recoveredOut is the payload of history.recovered.
type recoveredOut struct {
	Channel   string `json:"channel"`
	Recovered bool   `json:"recovered"`
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
}

// historyFor checks a history request for channel and returns the wired
// history of the connection's channel.
func (c *conn) historyFor(channel string) (*chanHistory, error) {
	h := c.mount.hist.Load()
	switch {
	case channel == "":
		return nil, BadRequest(`a history request needs a "channel"`)
	case h == nil:
		return nil, errNoHistory
	}
	if err := c.ctx.authorizeChannels([]string{channel}); err != nil {
		c.ctx.log.Info().Err(err).Str("channel", channel).Msg("history refused")
		return nil, NewError(CodeForbidden, "you may not read the history of "+strconv.Quote(channel))
	}
	return h, nil
}

// start marks where a history read begins: it returns the last offset
// delivered on this instance and holds the connection's frames from then
// on, so that nothing delivered later overtakes the reply (release them
// with c.t.Release).
func (h *chanHistory) start(c *conn) (*historyLife, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.t.Hold()
	return h.life, h.delivered
}

// historyGet serves history.get {channel, limit}: the sub-channel's last
// limit messages (all it keeps when limit is 0), oldest first.
func (c *conn) historyGet(msg Message) error {
	var in historyGetIn
	return c.historyRead(msg, &in, &in.Channel, func(ctx context.Context, life *historyLife, upTo uint64) error {
		return c.serveHistoryGet(ctx, msg, in, life, upTo)
	})
}

// historyRequest is the payload of a history request.
type historyRequest interface{ check() error }

func (in *historyGetIn) check() error {
	if in.Limit < 0 {
		return BadRequest(`"limit" must not be negative`)
	}
	return nil
}

func (in *recoverIn) check() error { return nil }

// historyRead decodes msg's payload into in, checks the sub-channel it
// names (*channel, read after decoding) and runs read with the channel's
// current history, the last offset delivered on this instance and a
// bounded context, while the connection's other frames wait (see start).
func (c *conn) historyRead(msg Message, in historyRequest, channel *string, read func(context.Context, *historyLife, uint64) error) error {
	if err := json.Unmarshal(msg.Payload, in); err != nil {
		return BadRequest(msg.Type + " payload: " + jsonProblem(err))
	}
	if err := in.check(); err != nil {
		return err
	}
	h, err := c.historyFor(*channel)
	if err != nil {
		return err
	}
	life, upTo := h.start(c)
	defer c.t.Release()
	ctx, cancel := context.WithTimeout(c.ctx.ctx, historyTimeout)
	defer cancel()
	return read(ctx, life, upTo)
}

// serveHistoryGet answers history.get once historyRead checked it.
func (c *conn) serveHistoryGet(ctx context.Context, msg Message, in historyGetIn, life *historyLife, upTo uint64) error {
	entries, err := life.log.After(ctx, in.Channel, 0)
	if err != nil {
		c.ctx.log.Warn().Err(err).Str("channel", in.Channel).Msg("history.get failed")
		return NewError(CodeUnavailable, "history is unavailable; try again")
	}
	entries = upToOffset(entries, upTo)
	limit := c.mount.history.Size // the stream keeps more (history.Kept); a read serves Size
	if in.Limit > 0 && in.Limit < limit {
		limit = in.Limit
	}
	if len(entries) > limit {
		entries = entries[len(entries)-limit:]
	}
	out := historyOut{Channel: in.Channel, Epoch: life.epoch, Messages: make([]json.RawMessage, 0, len(entries))}
	for _, e := range entries {
		out.Messages = append(out.Messages, historyFrame(e.Data, e.Channel, life.epoch, e.Offset))
		out.Offset = e.Offset
	}
	return c.replyDirect(msg, "history", out)
}

// historyRecover serves history.recover {channel, epoch, offset}: every
// message of the sub-channel after offset, in order, then
// history.recovered. Messages delivered to the connection live before
// the request may come again (clients drop offsets they have); none is
// missing, and later ones follow the reply.
func (c *conn) historyRecover(msg Message) error {
	var in recoverIn
	return c.historyRead(msg, &in, &in.Channel, func(ctx context.Context, life *historyLife, upTo uint64) error {
		return c.serveHistoryRecover(ctx, msg, in, life, upTo)
	})
}

// serveHistoryRecover answers history.recover once historyRead checked it.
func (c *conn) serveHistoryRecover(ctx context.Context, msg Message, in recoverIn, life *historyLife, upTo uint64) error {
	out := recoveredOut{Channel: in.Channel, Epoch: life.epoch, Offset: in.Offset}
	entries, err := life.log.After(ctx, in.Channel, in.Offset)
	if err == nil && in.Epoch == life.epoch {
		switch {
		case len(entries) > 0:
			// The chain says whether the first message kept after the
			// position follows it directly.
			out.Recovered = entries[0].Prev == in.Offset
		case in.Offset == 0:
			out.Recovered = true // nothing was ever kept, so nothing was missed
		default:
			// Nothing after the position: it is intact if its own message is
			// still kept (limits drop oldest first).
			out.Recovered, err = life.log.Holds(ctx, in.Channel, in.Offset)
		}
	}
	if err != nil {
		c.ctx.log.Warn().Err(err).Str("channel", in.Channel).Msg("history.recover failed")
		return NewError(CodeUnavailable, "history is unavailable; try again")
	}
	if !out.Recovered {
		out.Offset = 0 // the client reloads with history.get, which gives the position
		return c.replyDirect(msg, "history.recovered", out)
	}
	self := c.sessionID()
	for _, e := range upToOffset(entries, upTo) {
		if !slices.Contains(e.Except, self) {
			c.t.EnqueueDirect(historyFrame(e.Data, e.Channel, life.epoch, e.Offset))
		}
		out.Offset = e.Offset
	}
	return c.replyDirect(msg, "history.recovered", out)
}

// upToOffset returns the leading entries with offsets up to upTo.
func upToOffset(entries []history.Entry, upTo uint64) []history.Entry {
	for i, e := range entries {
		if e.Offset > upTo {
			return entries[:i]
		}
	}
	return entries
}

// sessionID returns the connection's presence session id, or "".
func (c *conn) sessionID() string {
	if m, ok := c.hc.Member(); ok {
		return m.SessionID
	}
	return ""
}

// replyDirect answers msg past a hold (see transport.Conn.Hold).
func (c *conn) replyDirect(msg Message, typ string, payload any) error {
	frame, err := encodeFrame(typ, payload, msg.Ref)
	if err != nil {
		return err
	}
	c.t.EnqueueDirect(frame)
	return nil
}

// configureChannels applies mega.yaml's appConfig.<app>.channels to the
// mounted channels. A namespace with no channel, or history without a
// cluster to keep it in, is an error.
func (a *App) configureChannels(channels map[string]config.ChannelOverride, cluster bool) error {
	a.mountMu.Lock()
	defer a.mountMu.Unlock()
	var errs []error
	for _, ns := range slices.Sorted(maps.Keys(channels)) {
		m := a.mounts[ns]
		if m == nil {
			errs = append(errs, fmt.Errorf("mega.yaml's appConfig.%s.channels names %s, where the app mounts no channel (it mounts %s)",
				a.name, ns, strings.Join(slices.Sorted(maps.Keys(a.mounts)), ", ")))
			continue
		}
		if o := channels[ns].History; o != nil {
			m.setHistory(historyWith(m.history, o))
		}
	}
	if !cluster {
		for _, ns := range slices.Sorted(maps.Keys(a.mounts)) {
			if a.mounts[ns].history != nil {
				errs = append(errs, fmt.Errorf("channel %s keeps history, which lives in NATS JetStream: add a wsCluster section to mega.yaml (or turn its history off)", ns))
			}
		}
	}
	return errors.Join(errs...)
}

// historyWith returns h (nil: none) changed by a mega.yaml history
// section, or nil when the section turns history off.
func historyWith(h *History, o *config.HistoryOverride) *History {
	if o.Enabled != nil && !*o.Enabled {
		return nil
	}
	var out History
	if h != nil {
		out = *h
	}
	set := func(dst, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&out.Size, o.Size)
	set(&out.Replicas, o.Replicas)
	if o.TTL != nil {
		out.TTL = *o.TTL
	}
	if o.MaxBytes != nil {
		out.MaxBytes = *o.MaxBytes
	}
	return &out
}

// historyMounts returns the mounts that keep history, by namespace.
func (a *App) historyMounts() []*mount {
	a.mountMu.RLock()
	defer a.mountMu.RUnlock()
	var out []*mount
	for _, ns := range slices.Sorted(maps.Keys(a.mounts)) {
		if a.mounts[ns].history != nil {
			out = append(out, a.mounts[ns])
		}
	}
	return out
}

// stopHistories ends the delivery of every channel's history.
func (a *App) stopHistories() {
	for _, m := range a.historyMounts() {
		if h := m.hist.Load(); h != nil {
			h.stop()
		}
	}
}
