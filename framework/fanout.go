package mega

import (
	"encoding/json"
	"fmt"

	"github.com/megaframework/mega/framework/hub"
)

// This file holds what an app sends and reads from outside a connection: a
// REST handler, a background job. Presence's methods of the same names are
// these, bound to the connection's namespace.

// Broadcast sends b to every connection of namespace ns on every instance
// (only those joined to b.Channel when it is set, never the sessions in
// b.Except), exactly once each. The frame is encoded once; local
// connections get it first, then it is published once to the cluster.
//
// It may be called from any goroutine, before or after connections exist.
// It fails with ErrUnknownNamespace when no channel is mounted at ns and
// with ErrInvalidMessage when b has no Type or its Payload does not encode.
func (a *App) Broadcast(ns string, b Broadcast) error {
	m := a.mountAt(ns)
	if m == nil {
		return fmt.Errorf("%w: %q (mount a channel there with App.Channel)", ErrUnknownNamespace, ns)
	}
	return a.broadcast(m, b)
}

// broadcast encodes b once and sends it to mount m's namespace on every
// instance: App.Broadcast and Presence.Broadcast.
func (a *App) broadcast(m *mount, b Broadcast) error {
	if b.Type == "" {
		return fmt.Errorf("%w: a broadcast needs a Type", ErrInvalidMessage)
	}
	frame, err := encodeFrame(b.Type, b.Payload, "")
	if err != nil {
		return err
	}
	if b.Channel != "" && m.history != nil {
		if h := m.hist.Load(); h != nil {
			// Kept in JetStream; every instance's consumer delivers it, with
			// its offset (history.go).
			if err := h.publish(b, frame); err != nil {
				return err
			}
			m.stats.broadcasts.Add(1)
			return nil
		}
	}
	a.hub.Broadcast(m.ns, b.Channel, b.Except, frame)
	m.stats.broadcasts.Add(1)
	return nil
}

// DirectToUser sends msg to every session of userID, in every namespace of
// the app, on every instance, exactly once each. The frame is encoded once
// and published once to the cluster, however many namespaces the user is in.
// A user with no session gets nothing; that is not an error.
//
// It may be called from any goroutine. It fails with ErrInvalidMessage when
// userID or msg.Type is empty or msg.Payload does not encode.
func (a *App) DirectToUser(userID string, msg Push) error {
	switch {
	case userID == "":
		return fmt.Errorf("%w: DirectToUser needs a user id", ErrInvalidMessage)
	case msg.Type == "":
		return fmt.Errorf("%w: DirectToUser needs a Type", ErrInvalidMessage)
	}
	frame, err := encodeFrame(msg.Type, msg.Payload, "")
	if err != nil {
		return err
	}
	a.hub.Direct(userID, frame)
	return nil
}

// List returns the members of namespace ns sorted by session id:
// cluster-wide when a cluster roster is wired (mega.yaml's wsCluster), else
// this instance's. The slice and the members in it are a copy the caller
// owns: sort it, append to it, keep it. An unknown namespace has no members.
func (a *App) List(ns string) []Member { return copyMembers(a.hub.List(ns)) }

// mountAt returns the channel mounted at ns, or nil.
func (a *App) mountAt(ns string) *mount {
	a.mountMu.RLock()
	defer a.mountMu.RUnlock()
	return a.mounts[ns]
}

// copyMembers deep-copies the hub's shared snapshot in three allocations:
// the members, one array holding every member's channels and one holding
// every member's metadata.
func copyMembers(src []hub.Member) []Member {
	if len(src) == 0 {
		return nil
	}
	var nch, nmeta int
	for i := range src {
		nch += len(src[i].Channels)
		nmeta += len(src[i].Metadata)
	}
	out := make([]Member, len(src))
	copy(out, src)
	var chans []string
	if nch > 0 {
		chans = make([]string, 0, nch)
	}
	var meta []byte
	if nmeta > 0 {
		meta = make([]byte, 0, nmeta)
	}
	for i := range out {
		m := &out[i]
		if m.Channels != nil {
			start := len(chans)
			chans = append(chans, m.Channels...)
			m.Channels = chans[start:len(chans):len(chans)]
		}
		if m.Metadata != nil {
			start := len(meta)
			meta = append(meta, m.Metadata...)
			m.Metadata = json.RawMessage(meta[start:len(meta):len(meta)])
		}
	}
	return out
}
