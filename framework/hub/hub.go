// Package hub is the local fan-out engine of one app on one instance.
//
// It indexes connections by namespace, sub-channel, user and session, and
// delivers already-encoded frames to them: a broadcast is encoded once by the
// caller and the same bytes go to every recipient. It also keeps the roster
// (who is joined where, locally and on other instances) and emits presence
// events when it changes.
//
// The hub is the seam the cluster plugs into: local activity is reported to an
// Outbound, and activity from other instances comes back through the Deliver*
// and roster methods (ApplyRemote, ReplaceInstance, DropInstance) without the
// channel code knowing where a message came from.
package hub

import (
	"errors"
	"sync"
	"sync/atomic"
)

// numShards splits each namespace's connections so that a broadcast holds
// many short read locks instead of one long one, and attaches and detaches
// rarely contend with it. A power of two.
const numShards = 16

// Errors returned by the hub. Callers branch on them with errors.Is.
var (
	// ErrSessionTaken means the session id is already live on this or another instance.
	ErrSessionTaken = errors.New("hub: session id is already in use")
	// ErrAlreadyJoined means the connection has joined and must Leave before joining again.
	ErrAlreadyJoined = errors.New("hub: connection has already joined")
	// ErrNotJoined means the connection has not joined the roster.
	ErrNotJoined = errors.New("hub: connection has not joined")
	// ErrDetached means the connection was detached from the hub (it has disconnected).
	ErrDetached = errors.New("hub: connection is detached")
)

// Client is a connection as the hub sees it.
type Client interface {
	// Send queues frame for the client without blocking. The frame is shared
	// by every recipient of a broadcast and must not be modified.
	Send(frame []byte)
}

// Hub is the fan-out engine and roster of one app on one instance. The zero
// value is not usable; call New. All methods are safe for concurrent use.
type Hub struct {
	mu         sync.RWMutex
	namespaces map[string]*namespace

	roster roster

	out    atomic.Pointer[outboundBox]
	nextID atomic.Uint64
}

type outboundBox struct{ o Outbound }

// New returns an empty hub that delivers locally only until SetOutbound is called.
func New() *Hub {
	h := &Hub{namespaces: make(map[string]*namespace)}
	h.roster.init()
	return h
}

// SetOutbound connects the hub to the cluster. Call it before connections
// attach; a nil o makes the hub local-only again.
func (h *Hub) SetOutbound(o Outbound) {
	if o == nil {
		h.out.Store(nil)
		return
	}
	h.out.Store(&outboundBox{o: o})
}

func (h *Hub) outbound() Outbound {
	if b := h.out.Load(); b != nil {
		return b.o
	}
	return nil
}

// namespace returns the namespace record, creating it when create is true.
func (h *Hub) namespace(name string, create bool) *namespace {
	h.mu.RLock()
	ns := h.namespaces[name]
	h.mu.RUnlock()
	if ns != nil || !create {
		return ns
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ns = h.namespaces[name]; ns == nil {
		ns = newNamespace(name)
		h.namespaces[name] = ns
	}
	return ns
}

// Conn is a connection registered in the hub. It is created by Attach and
// passed back to Join, Update, Leave and Detach.
type Conn struct {
	id     uint64
	client Client
	ns     *namespace
	shard  *shard
	idx    int // position in shard.conns; guarded by shard.mu

	// member is the joined identity; nil before Join and after Leave.
	// Written under shard.mu, read under it by the delivery paths.
	member   *Member
	detached bool
}

// Namespace returns the namespace the connection is attached to.
func (c *Conn) Namespace() string { return c.ns.name }

// Member returns the connection's roster entry and whether it has joined.
func (c *Conn) Member() (Member, bool) {
	c.shard.mu.RLock()
	defer c.shard.mu.RUnlock()
	if c.member == nil {
		return Member{}, false
	}
	return *c.member, true
}

// Attach registers a new connection on namespace ns. It receives broadcasts
// to the whole namespace at once; sub-channel broadcasts and direct messages
// reach it after Join.
func (h *Hub) Attach(ns string, client Client) *Conn {
	n := h.namespace(ns, true)
	c := &Conn{id: h.nextID.Add(1), client: client, ns: n}
	c.shard = &n.shards[c.id&(numShards-1)]
	c.shard.add(c)
	n.interestMu.Lock()
	n.count++
	first := n.count == 1
	if first {
		if o := h.outbound(); o != nil {
			o.Interest(ns, true)
		}
	}
	n.interestMu.Unlock()
	return c
}

// Detach removes the connection: it receives nothing more, then leaves the
// roster if it had joined (emitting a leave event the connection itself no
// longer gets). Detach is idempotent.
func (h *Hub) Detach(c *Conn) {
	if !c.shard.remove(c) {
		return
	}
	_ = h.Leave(c)
	n := c.ns
	n.interestMu.Lock()
	n.count--
	if n.count == 0 {
		if o := h.outbound(); o != nil {
			o.Interest(n.name, false)
		}
	}
	n.interestMu.Unlock()
}

// Broadcast delivers frame to every local connection of ns (only those
// joined to channel when channel is not empty, and none whose session id is
// in except), then reports it to the cluster.
func (h *Hub) Broadcast(ns, channel string, except []string, frame []byte) {
	h.DeliverBroadcast(ns, channel, except, frame)
	if o := h.outbound(); o != nil {
		o.PublishBroadcast(ns, channel, except, frame)
	}
}

// DeliverBroadcast delivers frame to local connections only. The cluster
// calls it for broadcasts that arrive from other instances.
func (h *Hub) DeliverBroadcast(ns, channel string, except []string, frame []byte) {
	n := h.namespace(ns, false)
	if n == nil {
		return
	}
	for i := range n.shards {
		n.shards[i].deliver(channel, except, frame)
	}
}

// Direct delivers frame to every local session of userID in every
// namespace, then reports it to the cluster so sessions on other instances
// get it too.
func (h *Hub) Direct(userID string, frame []byte) {
	h.DeliverDirect(userID, frame)
	if o := h.outbound(); o != nil {
		o.PublishDirect(userID, frame)
	}
}

// DeliverDirect delivers frame to the local sessions of userID, in every
// namespace, only.
func (h *Hub) DeliverDirect(userID string, frame []byte) {
	h.mu.RLock()
	for _, n := range h.namespaces {
		for i := range n.shards {
			n.shards[i].deliverUser(userID, frame)
		}
	}
	h.mu.RUnlock()
}

// LocalCount returns the number of connections attached to ns on this instance.
func (h *Hub) LocalCount(ns string) int {
	n := h.namespace(ns, false)
	if n == nil {
		return 0
	}
	n.interestMu.Lock()
	defer n.interestMu.Unlock()
	return n.count
}
