package cluster

import (
	"slices"
	"sync/atomic"
)

// peerSet publishes the ids of the peers the reader tracks. The reader
// goroutine replaces the whole snapshot whenever it adds or drops a peer;
// Peers reads it without a lock.
type peerSet struct {
	ids atomic.Pointer[[]string] // sorted; never modified once stored
}

// Peers returns the ids of the other instances of the app this Cluster
// currently hears from, sorted: every peer it learned about (from a
// heartbeat, a delta or a sync answer) and has not dropped yet (bye, TTL or
// Stop). With the "none" roster it is always empty. It is safe for
// concurrent use; the caller owns the returned slice.
func (c *Cluster) Peers() []string {
	p := c.peerIDs.ids.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	return slices.Clone(*p)
}

// publishPeers stores the current peer set for Peers. It runs on the reader
// goroutine, after every change of r.peers.
func (r *reader) publishPeers() {
	ids := make([]string, 0, len(r.peers))
	for id := range r.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	r.c.peerIDs.ids.Store(&ids)
}
