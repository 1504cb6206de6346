package cluster

import (
	"github.com/megaframework/mega/framework/hub"
	"github.com/nats-io/nats.go"
)

// This file implements hub.Outbound: what the local hub reports.

// maxPendingDeltas bounds the local changes waiting for the writer. Past it
// the oldest are discarded: peers see the sequence gap and fetch the state.
const maxPendingDeltas = 100_000

// PublishBroadcast publishes a broadcast the hub already delivered locally,
// once, on the namespace's subject. The frame is copied into the message.
func (c *Cluster) PublishBroadcast(ns, channel string, except []string, frame []byte) {
	if c.isStopped() {
		return
	}
	bp := getBuf()
	b := encodeBroadcast((*bp)[:0], c.id, channel, except, frame)
	c.publishData(c.nsSubjects.get(ns), b, &c.st.bPub)
	*bp = b
	putBuf(bp)
}

// PublishDirect publishes a message for every session of userID, in every
// namespace, on the other instances: once, on the app's direct subject. The
// user id travels in the payload, never in the subject.
func (c *Cluster) PublishDirect(userID string, frame []byte) {
	if c.isStopped() {
		return
	}
	bp := getBuf()
	b := encodeDirect((*bp)[:0], c.id, userID, frame)
	c.publishData(c.directSubj, b, &c.st.dPub)
	*bp = b
	putBuf(bp)
}

func (c *Cluster) publishData(subj string, b []byte, counter interface{ Add(uint64) uint64 }) {
	if err := c.nc.Publish(subj, b); err != nil {
		c.st.pubErrs.Add(1)
		c.log.Debug().Err(err).Int("bytes", len(b)).Msg("cluster: publish failed (delivered locally only)")
		return
	}
	counter.Add(1)
	c.st.bytesPub.Add(uint64(len(b)))
}

func (c *Cluster) isStopped() bool { return c.stopped.Load() }

// MemberChanged records a local join, update or leave and publishes it as a
// delta with the next sequence number. The sequence number and the local
// member set change together under one lock, so any snapshot is consistent
// with the sequence number it carries.
func (c *Cluster) MemberChanged(op hub.Op, m hub.Member) {
	if !c.roster {
		return
	}
	key := m.Namespace + "\x00" + m.SessionID
	c.mu.Lock()
	if c.state == stateStopped || m.SessionID == "" {
		c.mu.Unlock()
		return
	}
	old, exists := c.members[key]
	switch op {
	case hub.OpJoin, hub.OpUpdate:
		var ok bool
		if m, ok = c.fitMember(m); !ok {
			// Too big to ever be sent: keep it out of the shared roster.
			if exists {
				delete(c.members, key)
				op, m = hub.OpLeave, old
				break
			}
			c.mu.Unlock()
			return
		}
		// Normalize, so peers can count members from the ops alone.
		op = hub.OpJoin
		if exists {
			op = hub.OpUpdate
		}
		c.members[key] = m
	case hub.OpLeave:
		if !exists {
			c.mu.Unlock()
			return
		}
		delete(c.members, key)
		m = old
	default:
		c.mu.Unlock()
		return
	}
	c.seq++
	if c.state == stateStarted {
		if len(c.pending) >= maxPendingDeltas {
			// Never grow without bound: drop what is queued; the next
			// heartbeat's seq shows peers the gap and they fetch the state.
			c.pending = nil
			c.log.Warn().Int("deltas", maxPendingDeltas).Msg("cluster: roster deltas discarded, peers will fetch the state")
		}
		c.pending = append(c.pending, delta{seq: c.seq, op: op, m: m})
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// fitMember makes sure m encodes under maxMemberBytes, first dropping its
// metadata, then its channels. It reports false when even that is not enough.
func (c *Cluster) fitMember(m hub.Member) (hub.Member, bool) {
	if memberSize(&m) <= maxMemberBytes {
		return m, true
	}
	c.log.Warn().Str("ns", m.Namespace).Str("session", m.SessionID).Int("bytes", memberSize(&m)).
		Msg("cluster: member too big for the shared roster; its metadata is not shared")
	m.Metadata = nil
	if memberSize(&m) <= maxMemberBytes {
		return m, true
	}
	m.Channels = nil
	if memberSize(&m) <= maxMemberBytes {
		return m, true
	}
	c.log.Error().Str("ns", m.Namespace).Str("session", m.SessionID).Msg("cluster: member too big for the shared roster; kept local")
	return m, false
}

// Interest subscribes to the namespace's subject while this instance has a
// connection there (on=true), and unsubscribes when it has none left. The
// app's direct subject is subscribed while any namespace has a connection.
func (c *Cluster) Interest(ns string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateStopped {
		return
	}
	s, had := c.interest[ns]
	switch {
	case on && !had:
		c.interest[ns] = nil
		if c.state == stateStarted {
			// Directs first: once a namespace message arrives, the server
			// has processed the direct subscription too (same connection).
			if err := c.subscribeDirectLocked(); err != nil {
				c.log.Error().Err(err).Msg("cluster: subscribe to directs failed")
			}
			if err := c.subscribeNSLocked(ns); err != nil {
				c.log.Error().Err(err).Str("ns", ns).Msg("cluster: subscribe failed")
			}
		}
	case !on && had:
		delete(c.interest, ns)
		c.unsubscribeLocked(ns, s)
		if len(c.interest) == 0 {
			c.unsubscribeLocked("", c.directSub)
			c.directSub = nil
		}
	}
}

// subscribeDirectLocked subscribes to the app's direct subject into the
// data queue unless it is already subscribed.
func (c *Cluster) subscribeDirectLocked() error {
	if c.directSub != nil {
		return nil
	}
	s, err := c.nc.ChanSubscribe(c.directSubj, c.dataCh)
	if err != nil {
		return err
	}
	c.directSub = s
	return nil
}

// subscribeNSLocked subscribes to one namespace subject into the data queue.
func (c *Cluster) subscribeNSLocked(ns string) error {
	subj := c.nsSubjects.get(ns)
	c.subjectNS.Store(subj, ns)
	s, err := c.nc.ChanSubscribe(subj, c.dataCh)
	if err != nil {
		c.subjectNS.Delete(subj)
		return err
	}
	c.interest[ns] = s
	return nil
}

// unsubscribeLocked ends a subscription, keeping its drop count. ns is the
// namespace of a data subscription, "" for a roster one.
func (c *Cluster) unsubscribeLocked(ns string, s *nats.Subscription) {
	if s == nil {
		return
	}
	if ns != "" {
		c.subjectNS.Delete(s.Subject)
	}
	c.goneDrop += subDropped(s)
	if err := s.Unsubscribe(); err != nil && c.nc.IsConnected() {
		c.log.Debug().Err(err).Str("subject", s.Subject).Msg("cluster: unsubscribe failed")
	}
}
