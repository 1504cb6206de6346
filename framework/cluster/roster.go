package cluster

import (
	"slices"
	"time"

	"github.com/megaframework/mega/framework/hub"
)

// The roster state machine, run by the reader goroutine only.
//
// For every peer the reader knows the sequence number it has applied. A
// delta batch that continues it is applied; one that skips ahead, a
// heartbeat whose sequence number is ahead, or a heartbeat whose member
// count disagrees at the same sequence number, starts a fetch of the peer's
// full state; deltas that arrive meanwhile are buffered and applied after
// the snapshot. Nothing from an unknown peer is applied before its state
// arrived, so a dead or restarted instance never resurrects members.

// maxBuffered bounds the deltas buffered for one peer while its state is
// fetched; past it the oldest are discarded (the gap makes us fetch again).
const maxBuffered = 50_000

type peer struct {
	id       string
	known    bool   // its state arrived at least once: applied and count are valid
	applied  uint64 // sequence number of the last applied change
	count    int    // members it has according to what we applied
	lastSeen time.Time

	fetching bool // waiting for a snapshot: deltas are buffered
	fetchReq uint64
	deadline time.Time
	tries    int
	buf      []delta
	asm      map[uint64]*assembly // snapshots being received, by request id
}

// assembly collects the chunks of one snapshot.
type assembly struct {
	seq   uint64
	total int
	got   int
	parts map[int][]hub.Member
}

func (r *reader) addPeer(id string) *peer {
	p := &peer{id: id, lastSeen: time.Now()}
	r.peers[id] = p
	r.c.st.peers.Store(int64(len(r.peers)))
	r.publishPeers()
	r.extendQuiet()
	return p
}

func (r *reader) removePeer(id string) {
	delete(r.peers, id)
	r.c.st.peers.Store(int64(len(r.peers)))
	r.publishPeers()
	r.c.local.DropInstance(id)
}

func (r *reader) touch(id string) {
	if p := r.peers[id]; p != nil {
		p.lastSeen = time.Now()
	}
}

func (r *reader) onHeartbeat(id string, seq, count uint64) {
	p := r.peers[id]
	if p == nil {
		p = r.addPeer(id)
		if count == 0 {
			// Its state at seq is empty: nothing to fetch.
			p.known, p.applied = true, seq
			return
		}
		r.startFetch(p)
		return
	}
	p.lastSeen = time.Now()
	if !p.known || p.fetching {
		return
	}
	if seq > p.applied || (seq == p.applied && int(count) != p.count) {
		r.gap(p)
	}
}

// onSyncAck registers a peer that answered our start sync: its state is
// coming in chunks (or it has none).
func (r *reader) onSyncAck(id string, reqID, seq, count uint64) {
	if _, ok := r.syncs[reqID]; !ok {
		return
	}
	p := r.peers[id]
	if p == nil {
		p = r.addPeer(id)
		if count == 0 {
			p.known, p.applied = true, seq
			return
		}
		p.fetching, p.fetchReq, p.deadline = true, reqID, time.Now().Add(r.c.fetchTO)
		return
	}
	p.lastSeen = time.Now()
}

func (r *reader) onDeltas(id string, first uint64, ops []delta) {
	p := r.peers[id]
	if p == nil {
		p = r.addPeer(id)
		r.buffer(p, ops)
		r.startFetch(p)
		return
	}
	p.lastSeen = time.Now()
	if !p.known || p.fetching {
		r.buffer(p, ops)
		return
	}
	if !r.apply(p, first, ops) {
		r.buffer(p, ops)
		r.gap(p)
	}
}

func (r *reader) onBye(id string) {
	r.tomb[id] = time.Now().Add(2 * r.c.ttl)
	if r.peers[id] != nil {
		r.removePeer(id)
	}
	r.c.st.byes.Add(1)
	r.c.log.Debug().Str("peer", id).Msg("cluster: peer stopped, its members dropped")
}

func (r *reader) onChunk(msg rosterMsg) {
	_, isSync := r.syncs[msg.reqID]
	p := r.peers[msg.origin]
	now := time.Now()
	switch {
	case p == nil && !isSync:
		return // a late reply for a peer we no longer track
	case p == nil:
		p = r.addPeer(msg.origin)
		p.fetching, p.fetchReq, p.deadline = true, msg.reqID, now.Add(r.c.fetchTO)
	case !isSync && msg.reqID != p.fetchReq:
		return // a reply to an abandoned request
	}
	p.lastSeen = now
	a := p.asm[msg.reqID]
	if a == nil || a.seq != msg.seq || a.total != msg.total {
		if p.asm == nil {
			p.asm = make(map[uint64]*assembly)
		}
		a = &assembly{seq: msg.seq, total: msg.total, parts: make(map[int][]hub.Member)}
		p.asm[msg.reqID] = a
	}
	if _, dup := a.parts[msg.index]; dup {
		return
	}
	a.parts[msg.index] = msg.chunk
	a.got++
	if p.fetching {
		p.deadline = now.Add(r.c.fetchTO) // progress: give the rest time
	}
	if a.got < a.total {
		return
	}
	delete(p.asm, msg.reqID)

	if p.known && a.seq < p.applied {
		return // we already applied newer changes
	}
	n := 0
	for _, part := range a.parts {
		n += len(part)
	}
	if p.known && !p.fetching && a.seq == p.applied && n == p.count {
		return // nothing new
	}
	all := make([]hub.Member, 0, n)
	for i := 0; i < a.total; i++ {
		all = append(all, a.parts[i]...)
	}
	r.c.local.ReplaceInstance(p.id, all)
	p.known, p.applied, p.count = true, a.seq, n
	p.fetching, p.fetchReq, p.tries = false, 0, 0
	r.drainBuffered(p)
}

// gap handles a peer whose changes we missed: fetch its state, unless a
// snapshot of it is already on its way.
func (r *reader) gap(p *peer) {
	for id := range p.asm {
		if _, isSync := r.syncs[id]; isSync || id == p.fetchReq {
			p.fetching, p.fetchReq, p.deadline = true, id, time.Now().Add(r.c.fetchTO)
			return
		}
	}
	r.startFetch(p)
}

// dropStaleAssemblies forgets partial snapshots nobody waits for any more.
func (r *reader) dropStaleAssemblies(p *peer) {
	for id := range p.asm {
		if _, isSync := r.syncs[id]; !isSync && (!p.fetching || id != p.fetchReq) {
			delete(p.asm, id)
		}
	}
}

// startFetch asks the peer for its full state, with a backoff per attempt.
func (r *reader) startFetch(p *peer) {
	c := r.c
	p.fetching = false
	r.dropStaleAssemblies(p)
	p.fetching = true
	p.fetchReq = c.reqIDs.Add(1)
	p.deadline = time.Now().Add(min(c.fetchTO<<min(p.tries, 4), c.ttl))
	p.tries++
	c.st.fetches.Add(1)
	c.publishRoster(c.base+".state."+p.id, c.replySubj, encodeRequest(nil, kindStateReq, c.id, p.fetchReq))
}

// apply applies a batch of consecutive deltas starting at first. It reports
// false, applying nothing, when the batch does not continue what was applied.
func (r *reader) apply(p *peer, first uint64, ops []delta) bool {
	last := first + uint64(len(ops)) - 1
	if last <= p.applied {
		return true // old news
	}
	if first > p.applied+1 {
		return false
	}
	for _, d := range ops[p.applied+1-first:] {
		r.applyOne(p, d)
	}
	return true
}

func (r *reader) applyOne(p *peer, d delta) {
	r.c.local.ApplyRemote(p.id, d.op, d.m)
	switch d.op {
	case hub.OpJoin:
		p.count++
	case hub.OpLeave:
		p.count--
	}
	p.applied = d.seq
}

func (r *reader) buffer(p *peer, ops []delta) {
	if len(p.buf)+len(ops) > maxBuffered {
		// Keep the newest; the older ones will show as a gap.
		drop := min(len(p.buf), len(p.buf)+len(ops)-maxBuffered)
		p.buf = append(p.buf[:0], p.buf[drop:]...)
		if len(ops) > maxBuffered {
			ops = ops[len(ops)-maxBuffered:]
		}
	}
	p.buf = append(p.buf, ops...)
}

// drainBuffered applies the buffered deltas that continue the snapshot.
func (r *reader) drainBuffered(p *peer) {
	slices.SortStableFunc(p.buf, func(a, b delta) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	for i, d := range p.buf {
		if d.seq <= p.applied {
			continue
		}
		if d.seq != p.applied+1 {
			p.buf = append(p.buf[:0], p.buf[i:]...)
			r.startFetch(p)
			return
		}
		r.applyOne(p, d)
	}
	p.buf = nil
}
