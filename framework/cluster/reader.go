package cluster

import (
	"time"

	"github.com/nats-io/nats.go"
)

// The reader is the one goroutine that receives. Every subscription of the
// Cluster delivers into one of two channels (nats.Conn.ChanSubscribe): the
// data channel for broadcasts and directs, the control channel for the
// roster. A full channel makes NATS drop the message and count it as a slow
// consumer; it never blocks the connection. Control messages are read first,
// so a burst of broadcasts cannot starve the roster.

type reader struct {
	c     *Cluster
	peers map[string]*peer
	tomb  map[string]time.Time // instances that said bye, until expiry
	syncs map[uint64]time.Time // full-sync request ids we accept chunks for, until expiry

	startReq   uint64
	syncing    bool
	quietUntil time.Time
	syncTimer  *time.Timer

	reconnects  uint64
	down        bool
	lastDropped uint64
}

func newReader(c *Cluster) *reader {
	return &reader{
		c:          c,
		peers:      make(map[string]*peer),
		tomb:       make(map[string]time.Time),
		syncs:      make(map[uint64]time.Time),
		reconnects: c.nc.Stats().Reconnects,
	}
}

func (r *reader) run() {
	c := r.c
	tick := time.NewTicker(c.sweep)
	defer tick.Stop()
	var syncC <-chan time.Time
	if c.roster {
		r.beginSync()
		syncC = r.syncTimer.C
		defer r.syncTimer.Stop()
	}
	defer r.shutdown()
	for {
		select {
		case <-c.stop:
			return
		case m := <-c.ctrlCh:
			r.handleCtrl(m)
			continue
		default:
		}
		select {
		case <-c.stop:
			return
		case m := <-c.ctrlCh:
			r.handleCtrl(m)
		case m := <-c.dataCh:
			r.handleData(m)
		case <-tick.C:
			r.sweepTick()
		case <-syncC:
			r.checkSynced()
		case <-c.resync:
			r.doResync("requested")
		}
	}
}

// handleData delivers a broadcast or direct from another instance.
// Broadcasts arrive on a namespace subject; directs on the app's direct
// subject (a direct on a namespace subject, from an older instance, is
// delivered the same way: to the user in every namespace).
func (r *reader) handleData(m *nats.Msg) {
	c := r.c
	c.st.bytesRecv.Add(uint64(len(m.Data)))
	var ns string
	if m.Subject != c.directSubj {
		v, ok := c.subjectNS.Load(m.Subject)
		if !ok {
			return // arrived after the last local connection on ns left
		}
		ns = v.(string)
	}
	h, d, err := decodeDataHeader(m.Data)
	if err != nil {
		r.malformed(m, err)
		return
	}
	if string(h.origin) == c.id {
		c.st.echoes.Add(1)
		return
	}
	dm, err := decodeDataBody(h.kind, d)
	if err != nil {
		r.malformed(m, err)
		return
	}
	switch {
	case dm.kind == kindDirect:
		c.st.dRecv.Add(1)
		c.local.DeliverDirect(dm.user, dm.frame)
	case m.Subject == c.directSubj:
		r.malformed(m, errMalformed) // only directs travel on the direct subject
	default:
		c.st.bRecv.Add(1)
		c.local.DeliverBroadcast(ns, dm.channel, dm.except, dm.frame)
	}
}

func (r *reader) malformed(m *nats.Msg, err error) {
	r.c.st.malformed.Add(1)
	r.c.log.Debug().Err(err).Str("subject", m.Subject).Int("bytes", len(m.Data)).Msg("cluster: malformed message dropped")
}

// handleCtrl handles one roster message.
func (r *reader) handleCtrl(m *nats.Msg) {
	c := r.c
	c.st.bytesRecv.Add(uint64(len(m.Data)))
	msg, err := decodeRoster(m.Data)
	if err == nil && (!validToken(msg.origin) || len(msg.origin) > 64) {
		err = errMalformed
	}
	if err != nil {
		r.malformed(m, err)
		return
	}
	if msg.origin == c.id {
		c.st.echoes.Add(1)
		return
	}
	c.st.rRecv.Add(1)
	if _, gone := r.tomb[msg.origin]; gone {
		switch msg.kind {
		case kindDeltas, kindChunk, kindBye:
			return // late words of a stopped instance
		case kindHeartbeat, kindSync, kindSyncAck:
			// Nothing of a stopped instance follows its bye: this is a new
			// boot reusing the id. It is unknown, so it gets fetched.
			delete(r.tomb, msg.origin)
		}
	}
	switch msg.kind {
	case kindHeartbeat:
		r.onHeartbeat(msg.origin, msg.seq, msg.count)
	case kindDeltas:
		r.onDeltas(msg.origin, msg.seq, msg.ops)
	case kindBye:
		r.onBye(msg.origin)
	case kindSync:
		r.touch(msg.origin)
		r.answerSync(m.Reply, msg.reqID)
	case kindSyncAck:
		r.onSyncAck(msg.origin, msg.reqID, msg.seq, msg.count)
	case kindStateReq:
		r.touch(msg.origin)
		r.enqueueServe(m.Reply, msg.reqID, true)
	case kindPing:
		r.touch(msg.origin)
		r.enqueueServe(m.Reply, msg.reqID, false)
	case kindChunk:
		r.onChunk(msg)
	}
	if r.syncing {
		r.checkSynced()
	}
}

// answerSync acknowledges a starting peer's sync request at once, with the
// seq and member count of a consistent snapshot, so the peer knows within a
// round trip that a state is coming; the writer then sends the chunks.
func (r *reader) answerSync(reply string, reqID uint64) {
	c := r.c
	if reply == "" || !validSubject(reply) {
		return
	}
	c.mu.Lock()
	seq, count := c.seq, len(c.members)
	c.mu.Unlock()
	var buf [128]byte
	c.publishRoster(reply, "", encodeSyncAck(buf[:0], c.id, reqID, seq, count))
	if count > 0 {
		r.enqueueServe(reply, reqID, true)
	}
}

// enqueueServe hands a request to the writer. When its queue is full the
// request is dropped; the requester retries.
func (r *reader) enqueueServe(reply string, reqID uint64, full bool) {
	if reply == "" || !validSubject(reply) {
		return
	}
	select {
	case r.c.serve <- serveReq{reply: reply, reqID: reqID, full: full}:
	default:
		r.c.log.Debug().Str("reply", reply).Msg("cluster: state request dropped, writer busy")
	}
}

// beginSync sends the start sync request: every peer answers with its full
// state in chunks.
func (r *reader) beginSync() {
	c := r.c
	now := time.Now()
	r.startReq = c.reqIDs.Add(1)
	r.syncs[r.startReq] = now.Add(max(c.ttl, 10*c.syncWait))
	r.syncing = true
	r.quietUntil = now.Add(c.syncWait)
	r.syncTimer = time.NewTimer(c.syncWait)
	c.publishRoster(c.rosterSubj, c.replySubj, encodeRequest(nil, kindSync, c.id, r.startReq))
}

// extendQuiet restarts the start sync's quiet period: a new peer showed up.
func (r *reader) extendQuiet() {
	if r.syncing {
		r.quietUntil = time.Now().Add(r.c.syncWait)
	}
}

// checkSynced completes the start sync once no new peer appeared for
// SyncWait and every known peer's state has arrived.
func (r *reader) checkSynced() {
	if !r.syncing {
		return
	}
	if d := time.Until(r.quietUntil); d > 0 {
		r.syncTimer.Reset(d)
		return
	}
	for _, p := range r.peers {
		if !p.known || p.fetching {
			return // its chunks, its retry or its TTL drop will call again
		}
	}
	r.syncing = false
	r.c.log.Debug().Int("peers", len(r.peers)).Msg("cluster: start sync complete")
	r.c.markSynced()
}

// doResync re-announces this instance and pings every peer for a heartbeat;
// the heartbeats show which peers changed while messages were lost, and only
// those are fetched. Peers that dropped this instance fetch its state when
// they see its heartbeat.
func (r *reader) doResync(why string) {
	c := r.c
	if !c.roster {
		return
	}
	c.st.resyncs.Add(1)
	r.reconnects = c.nc.Stats().Reconnects // this resync covers the reconnects so far
	now := time.Now()
	// Our outage was not theirs: give every peer a fresh TTL.
	for _, p := range r.peers {
		p.lastSeen = now
	}
	c.log.Info().Str("why", why).Int("peers", len(r.peers)).Msg("cluster: resync")
	c.publishRoster(c.rosterSubj, c.replySubj, encodeRequest(nil, kindPing, c.id, c.reqIDs.Add(1)))
	select {
	case c.hbNow <- struct{}{}:
	default:
	}
}

// sweepTick runs every TTL/10: reconnect detection, TTL drops, fetch retries,
// expiry of old bookkeeping and drop reporting.
func (r *reader) sweepTick() {
	c := r.c
	now := time.Now()
	if !c.nc.IsConnected() {
		// While we are cut off, silence proves nothing about the peers.
		r.down = true
	} else {
		if rc := c.nc.Stats().Reconnects; r.down || rc != r.reconnects {
			r.down, r.reconnects = false, rc
			r.doResync("reconnected")
		}
		for id, p := range r.peers {
			switch {
			case now.Sub(p.lastSeen) > c.ttl:
				r.removePeer(id)
				c.st.ttlDrops.Add(1)
				c.log.Info().Str("peer", id).Msg("cluster: peer silent for TTL, its members dropped")
			case p.fetching && now.After(p.deadline):
				r.startFetch(p)
			default:
				r.dropStaleAssemblies(p)
			}
		}
	}
	for id, until := range r.tomb {
		if now.After(until) {
			delete(r.tomb, id)
		}
	}
	for id, until := range r.syncs {
		if now.After(until) {
			delete(r.syncs, id)
		}
	}
	if d := c.dropped(); d > r.lastDropped {
		c.log.Warn().Uint64("dropped", d-r.lastDropped).Uint64("total", d).
			Msg("cluster: inbound messages dropped (slow consumer); the roster repairs itself, broadcasts are lost")
		r.lastDropped = d
	}
	if r.syncing {
		r.checkSynced()
	}
}

// shutdown drops every peer from the local hub: without a cluster the hub's
// view is this instance alone.
func (r *reader) shutdown() {
	for id := range r.peers {
		r.removePeer(id)
	}
}
