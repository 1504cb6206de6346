package cluster

import (
	"time"

	"github.com/megaframework/mega/framework/hub"
)

// The writer goroutine publishes everything about this instance's roster:
// deltas, heartbeats, answers to state requests and the final bye. One
// publisher keeps them in order on the wire, so a heartbeat never claims a
// sequence number whose delta is still unsent.

// serveReq asks the writer to answer a peer.
type serveReq struct {
	reply string
	reqID uint64
	full  bool // full state in chunks; otherwise a heartbeat
}

func (c *Cluster) writeLoop() {
	if !c.roster {
		<-c.stop
		return
	}
	tick := time.NewTicker(c.hbEvery)
	defer tick.Stop()
	c.heartbeat(c.rosterSubj) // announce
	for {
		select {
		case <-c.stop:
			// One message removes all our members everywhere.
			c.publishRoster(c.rosterSubj, "", encodeBye(nil, c.id))
			return
		case <-c.kick:
			c.flushDeltas()
		case <-tick.C:
			c.heartbeat(c.rosterSubj)
		case <-c.hbNow:
			c.heartbeat(c.rosterSubj)
		case r := <-c.serve:
			if r.full {
				c.serveState(r)
			} else {
				c.heartbeat(r.reply)
			}
		}
	}
}

// flushDeltas publishes the pending local changes in batches of about 32 KB
// and returns the sequence number and member count they lead to.
func (c *Cluster) flushDeltas() (seq uint64, count int) {
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	seq, count = c.seq, len(c.members)
	c.mu.Unlock()
	if len(batch) > 0 {
		encodeDeltas(c.id, batch, func(b []byte) { c.publishRoster(c.rosterSubj, "", b) })
	}
	return seq, count
}

// heartbeat publishes this instance's liveness, sequence number and member
// count to subj. Its size does not depend on the number of members.
func (c *Cluster) heartbeat(subj string) {
	seq, count := c.flushDeltas()
	var buf [96]byte
	c.publishRoster(subj, "", encodeHeartbeat(buf[:0], c.id, seq, count))
}

// serveState sends a consistent snapshot of the local members, in chunks.
func (c *Cluster) serveState(r serveReq) {
	c.mu.Lock()
	seq := c.seq
	ms := make([]hub.Member, 0, len(c.members))
	for _, m := range c.members {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	for _, b := range encodeChunks(c.id, r.reqID, seq, ms) {
		c.publishRoster(r.reply, "", b)
	}
	c.st.served.Add(1)
}
