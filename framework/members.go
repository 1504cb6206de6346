package mega

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/megaframework/mega/framework/hub"
)

// Members is a namespace's roster as clients see it. It encodes as the
// JSON array
//
//	[{"sessionId": "...", "userId": "...", "metadata": {...}}, ...]
//
// (metadata only when the member has some), sorted by session id: the
// members of the welcome and roster payloads client.js's Presence reads.
//
// It is a view of the roster's own snapshot, which is never modified once
// built: getting one copies nothing, and it stays valid (and unchanged) as
// long as it is kept. Use Presence.List for members to modify.
type Members struct{ list []hub.Member }

// Members returns the members of the connection's namespace, cluster-wide
// as List, without copying them. Presence.Welcome and a roster reply
// encode it.
func (p *Presence) Members() Members { return Members{list: p.c.conn.app.hub.List(p.c.conn.mount.ns)} }

// Len returns how many members there are.
func (m Members) Len() int { return len(m.list) }

// MarshalJSON encodes the members into one buffer of the right size.
// Encoding a big roster for many connections at once is what Welcome
// bounds; MarshalJSON does not wait.
func (m Members) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, m.encodedLen())), nil
}

// AppendJSON appends the members' JSON array to b.
func (m Members) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	for i := range m.list {
		mb := &m.list[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sessionId":`...)
		b = appendString(b, mb.SessionID)
		b = append(b, `,"userId":`...)
		b = appendString(b, mb.UserID)
		if len(mb.Metadata) > 0 {
			b = append(b, `,"metadata":`...)
			b = append(b, mb.Metadata...) // a JSON object, encoded at join
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// encodedLen returns the length of AppendJSON's output; exact unless an id
// needs escaping (then append grows the buffer).
func (m Members) encodedLen() int {
	n := 2 + max(len(m.list)-1, 0) // brackets and commas
	for i := range m.list {
		mb := &m.list[i]
		n += len(`{"sessionId":"","userId":""}`) + len(mb.SessionID) + len(mb.UserID)
		if len(mb.Metadata) > 0 {
			n += len(`,"metadata":`) + len(mb.Metadata)
		}
	}
	return n
}

// Welcome returns the payload a channel sends a newcomer once it joined:
//
//	{"sessionId": "...", "userId": "...", "members": [...]}
//
// its own session and the members of the namespace (Members), encoded
// into one buffer of the right size: client.js's Presence takes it as the
// roster's state. Send it with Ctx.Send("welcome", ...).
//
// A welcome carries the whole roster, so when thousands connect at once
// each newcomer would hold its own encoding of a roster of thousands at
// the same moment: n²/2 members in memory at the peak of a join storm,
// which the process keeps as resident memory long after. Big welcomes are
// therefore built a few at a time, one per CPU (building one never waits
// on I/O, so that costs no throughput); a newcomer whose connection ends
// while it waits gets the connection's error instead. Once a storm of big
// welcomes is over, the memory they took is given back to the system.
// Welcome fails with ErrNotJoined before Join.
func (p *Presence) Welcome() (json.RawMessage, error) {
	self, ok := p.Self()
	if !ok {
		return nil, fmt.Errorf("welcome: %w", ErrNotJoined)
	}
	// Wait for the slot before taking the roster: a newcomer waiting with
	// a snapshot in hand would keep that snapshot alive, one per newcomer.
	hub, ns := p.c.conn.app.hub, p.c.conn.mount.ns
	if hub.Count(ns) < bigRoster {
		return appendWelcome(nil, self, Members{list: hub.List(ns)}), nil
	}
	if err := takeSlot(p.c.Context()); err != nil {
		return nil, fmt.Errorf("welcome: %w", err)
	}
	b := appendWelcome(nil, self, Members{list: hub.List(ns)})
	releaseSlot()
	stormReclaim.add(len(b)) // see reclaim.go
	return b, nil
}

// bigRoster is the roster size from which Welcome waits for a slot: below
// it a welcome is a few kilobytes, built at once.
const bigRoster = 256

// encodeSlots bounds how many big welcomes are built at the same time.
var encodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// takeSlot waits for one of encodeSlots, or for ctx to end.
func takeSlot(ctx context.Context) error {
	select {
	case encodeSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// releaseSlot gives back the slot takeSlot took.
func releaseSlot() { <-encodeSlots }

// appendWelcome appends the welcome of self with members m to b, growing
// b once to the right size.
func appendWelcome(b []byte, self Member, m Members) []byte {
	const fixed = len(`{"sessionId":"","userId":"","members":}`)
	if need := fixed + len(self.SessionID) + len(self.UserID) + m.encodedLen(); cap(b)-len(b) < need {
		b = append(make([]byte, 0, len(b)+need), b...)
	}
	b = append(b, `{"sessionId":`...)
	b = appendString(b, self.SessionID)
	b = append(b, `,"userId":`...)
	b = appendString(b, self.UserID)
	b = append(b, `,"members":`...)
	b = m.AppendJSON(b)
	return append(b, '}')
}
