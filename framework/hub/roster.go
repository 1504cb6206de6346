package hub

import (
	"bytes"
	"slices"
	"sort"
	"sync"
)

// roster is the membership view of one app: local members and, when a
// cluster is wired, the members of every other instance.
type roster struct {
	mu         sync.RWMutex
	sessions   map[string]*entry              // session id → entry, cluster-wide
	namespaces map[string]*nsMembers          // namespace → members
	instances  map[string]map[string]struct{} // remote instance → its session ids

	subsMu sync.RWMutex
	subs   map[string][]*subscription // namespace → listeners
}

// entry is a member and the instance that owns it ("" for this instance).
type entry struct {
	m        Member
	instance string
}

// nsMembers holds one namespace's members and a cached sorted snapshot that
// List hands out until the next change. After changes, List rebuilds the
// snapshot from the previous one: it keeps the unchanged members in their
// order and merges in the few that changed, instead of sorting everything.
type nsMembers struct {
	members map[string]*entry
	snap    []Member            // sorted by session id; never modified once built
	fresh   bool                // snap reflects members
	changed map[string]struct{} // session ids changed since snap was built
}

// touch records that session sid changed; r.mu must be held.
func (n *nsMembers) touch(sid string) {
	n.fresh = false
	if n.snap == nil {
		return // the next List builds from scratch anyway
	}
	if n.changed == nil {
		n.changed = make(map[string]struct{})
	}
	n.changed[sid] = struct{}{}
}

// rebuild makes snap reflect members; r.mu must be held for writing.
func (n *nsMembers) rebuild() {
	if n.snap == nil || len(n.changed) > len(n.members)/4 {
		// From scratch: a first snapshot, or so many changes that a sort
		// costs less than merging.
		snap := make([]Member, 0, len(n.members))
		for _, e := range n.members {
			snap = append(snap, e.m)
		}
		sort.Slice(snap, func(i, j int) bool { return snap[i].SessionID < snap[j].SessionID })
		n.snap, n.fresh, n.changed = snap, true, nil
		return
	}
	// The changed sessions that still exist, sorted: joins and updates.
	added := make([]Member, 0, len(n.changed))
	for sid := range n.changed {
		if e := n.members[sid]; e != nil {
			added = append(added, e.m)
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].SessionID < added[j].SessionID })
	// Merge them with the unchanged members of the old snapshot.
	snap := make([]Member, 0, len(n.members))
	j := 0
	for _, m := range n.snap {
		if _, ok := n.changed[m.SessionID]; ok {
			continue // left, or updated: its new value is in added
		}
		for j < len(added) && added[j].SessionID < m.SessionID {
			snap = append(snap, added[j])
			j++
		}
		snap = append(snap, m)
	}
	snap = append(snap, added[j:]...)
	n.snap, n.fresh, n.changed = snap, true, nil
}

type subscription struct{ fn func(Event) }

func (r *roster) init() {
	r.sessions = make(map[string]*entry)
	r.namespaces = make(map[string]*nsMembers)
	r.instances = make(map[string]map[string]struct{})
	r.subs = make(map[string][]*subscription)
}

// put stores e; r.mu must be held.
func (r *roster) put(e *entry) {
	r.sessions[e.m.SessionID] = e
	ns := r.namespaces[e.m.Namespace]
	if ns == nil {
		ns = &nsMembers{members: make(map[string]*entry)}
		r.namespaces[e.m.Namespace] = ns
	}
	ns.members[e.m.SessionID] = e
	ns.touch(e.m.SessionID)
	if e.instance != "" {
		set := r.instances[e.instance]
		if set == nil {
			set = make(map[string]struct{})
			r.instances[e.instance] = set
		}
		set[e.m.SessionID] = struct{}{}
	}
}

// drop removes e; r.mu must be held.
func (r *roster) drop(e *entry) {
	delete(r.sessions, e.m.SessionID)
	if ns := r.namespaces[e.m.Namespace]; ns != nil {
		delete(ns.members, e.m.SessionID)
		ns.touch(e.m.SessionID)
		if len(ns.members) == 0 {
			delete(r.namespaces, e.m.Namespace)
		}
	}
	if e.instance != "" {
		if set := r.instances[e.instance]; set != nil {
			delete(set, e.m.SessionID)
			if len(set) == 0 {
				delete(r.instances, e.instance)
			}
		}
	}
}

func (r *roster) emit(events []Event) {
	if len(events) == 0 {
		return
	}
	r.subsMu.RLock()
	defer r.subsMu.RUnlock()
	for _, ev := range events {
		for _, s := range r.subs[ev.Member.Namespace] {
			s.fn(ev)
		}
	}
}

func sameMember(a, b *Member) bool {
	return a.UserID == b.UserID && a.Namespace == b.Namespace &&
		slices.Equal(a.Channels, b.Channels) && bytes.Equal(a.Metadata, b.Metadata)
}

// Subscribe calls fn for every join, update and leave in namespace ns,
// local or remote, in the order the hub applies them. fn runs on the
// goroutine that made the change and must not block; it may call the hub's
// delivery methods but not Join, Update, Leave or the remote roster methods.
// The returned function removes the subscription.
func (h *Hub) Subscribe(ns string, fn func(Event)) (cancel func()) {
	s := &subscription{fn: fn}
	r := &h.roster
	r.subsMu.Lock()
	r.subs[ns] = append(r.subs[ns], s)
	r.subsMu.Unlock()
	return func() {
		r.subsMu.Lock()
		defer r.subsMu.Unlock()
		if i := slices.Index(r.subs[ns], s); i >= 0 {
			r.subs[ns] = slices.Delete(r.subs[ns], i, i+1)
		}
	}
}

// List returns the members of namespace ns, sorted by session id: every
// instance's when a cluster roster is wired, else this instance's. The
// returned slice is shared and must not be modified.
func (h *Hub) List(ns string) []Member {
	r := &h.roster
	r.mu.RLock()
	n := r.namespaces[ns]
	if n == nil {
		r.mu.RUnlock()
		return nil
	}
	if n.fresh {
		snap := n.snap
		r.mu.RUnlock()
		return snap
	}
	r.mu.RUnlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	n = r.namespaces[ns]
	if n == nil {
		return nil
	}
	if !n.fresh {
		n.rebuild()
	}
	return n.snap
}

// Count returns how many members namespace ns has: every instance's when a
// cluster roster is wired, else this instance's. It copies nothing.
func (h *Hub) Count(ns string) int {
	h.roster.mu.RLock()
	defer h.roster.mu.RUnlock()
	if n := h.roster.namespaces[ns]; n != nil {
		return len(n.members)
	}
	return 0
}

// Lookup returns the member with the given session id, wherever it is.
func (h *Hub) Lookup(sessionID string) (Member, bool) {
	h.roster.mu.RLock()
	defer h.roster.mu.RUnlock()
	e, ok := h.roster.sessions[sessionID]
	if !ok {
		return Member{}, false
	}
	return e.m, true
}

// LocalMembers returns the members joined on this instance, in no order.
func (h *Hub) LocalMembers() []Member {
	h.roster.mu.RLock()
	defer h.roster.mu.RUnlock()
	var out []Member
	for _, e := range h.roster.sessions {
		if e.instance == "" {
			out = append(out, e.m)
		}
	}
	return out
}

// Join registers c in the roster as m. m.Namespace is set from the
// connection; m.SessionID and m.UserID must be set by the caller. It fails
// with ErrSessionTaken when the session id is live anywhere in the view.
func (h *Hub) Join(c *Conn, m Member) error {
	m.Namespace = c.ns.name
	r := &h.roster
	r.mu.Lock()
	if _, taken := r.sessions[m.SessionID]; taken {
		r.mu.Unlock()
		return ErrSessionTaken
	}
	c.shard.mu.Lock()
	switch {
	case c.detached:
		c.shard.mu.Unlock()
		r.mu.Unlock()
		return ErrDetached
	case c.member != nil:
		c.shard.mu.Unlock()
		r.mu.Unlock()
		return ErrAlreadyJoined
	}
	mp := &m
	c.member = mp
	c.shard.index(c)
	c.shard.mu.Unlock()
	r.put(&entry{m: m})
	r.mu.Unlock()

	h.localChanged(OpJoin, m)
	return nil
}

// Update replaces the metadata of c's member and emits an update event.
func (h *Hub) Update(c *Conn, metadata []byte) error {
	return h.changeMember(c, OpUpdate, func(r *roster, m Member) Member {
		m.Metadata = metadata
		c.member = &m
		r.put(&entry{m: m})
		return m
	})
}

// Leave removes c's member from the roster and emits a leave event. The
// connection stays attached and still receives namespace-wide broadcasts.
func (h *Hub) Leave(c *Conn) error {
	return h.changeMember(c, OpLeave, func(r *roster, m Member) Member {
		c.shard.unindex(c)
		c.member = nil
		if e := r.sessions[m.SessionID]; e != nil && e.instance == "" {
			r.drop(e)
		}
		return m
	})
}

// changeMember applies change to c's member with the roster and c's shard
// locked (in that order), then reports the result as op. It returns
// ErrNotJoined when c has no member.
func (h *Hub) changeMember(c *Conn, op Op, change func(r *roster, m Member) Member) error {
	r := &h.roster
	r.mu.Lock()
	c.shard.mu.Lock()
	if c.member == nil {
		c.shard.mu.Unlock()
		r.mu.Unlock()
		return ErrNotJoined
	}
	m := change(r, *c.member)
	c.shard.mu.Unlock()
	r.mu.Unlock()

	h.localChanged(op, m)
	return nil
}

func (h *Hub) localChanged(op Op, m Member) {
	if o := h.outbound(); o != nil {
		o.MemberChanged(op, m)
	}
	h.roster.emit([]Event{{Op: op, Member: m}})
}

// ApplyRemote applies one change of a member owned by another instance and
// emits the matching event. A join of a session id that is live on this
// instance is ignored: the local member keeps it. A join of a member already
// known with the same content emits nothing.
func (h *Hub) ApplyRemote(instance string, op Op, m Member) {
	r := &h.roster
	r.mu.Lock()
	events := r.applyRemote(instance, op, m, nil)
	r.mu.Unlock()
	r.emit(events)
}

// applyRemote applies one remote change, appending its event; r.mu must be held.
func (r *roster) applyRemote(instance string, op Op, m Member, events []Event) []Event {
	old := r.sessions[m.SessionID]
	switch op {
	case OpJoin, OpUpdate:
		switch {
		case old == nil:
			r.put(&entry{m: m, instance: instance})
			return append(events, Event{Op: OpJoin, Member: m, Remote: true})
		case old.instance == "":
			return events // the session is ours; a conflicting remote join loses
		case old.instance == instance && sameMember(&old.m, &m):
			return events
		default:
			if old.instance != instance || old.m.Namespace != m.Namespace {
				r.drop(old)
			}
			r.put(&entry{m: m, instance: instance})
			return append(events, Event{Op: OpUpdate, Member: m, Remote: true})
		}
	case OpLeave:
		if old != nil && old.instance == instance {
			r.drop(old)
			return append(events, Event{Op: OpLeave, Member: old.m, Remote: true})
		}
	}
	return events
}

// ReplaceInstance makes members the complete set of members owned by
// instance, emitting events for the differences only.
func (h *Hub) ReplaceInstance(instance string, members []Member) {
	r := &h.roster
	r.mu.Lock()
	keep := make(map[string]struct{}, len(members))
	var events []Event
	for _, m := range members {
		keep[m.SessionID] = struct{}{}
		events = r.applyRemote(instance, OpJoin, m, events)
	}
	for sid := range r.instances[instance] {
		if _, ok := keep[sid]; !ok {
			events = r.applyRemote(instance, OpLeave, r.sessions[sid].m, events)
		}
	}
	r.mu.Unlock()
	r.emit(events)
}

// DropInstance removes every member owned by instance, emitting a leave
// event for each: the instance stopped or is presumed dead.
func (h *Hub) DropInstance(instance string) {
	r := &h.roster
	r.mu.Lock()
	var events []Event
	for sid := range r.instances[instance] {
		events = r.applyRemote(instance, OpLeave, r.sessions[sid].m, events)
	}
	r.mu.Unlock()
	r.emit(events)
}

// Instances returns the remote instances that own at least one member.
func (h *Hub) Instances() []string {
	h.roster.mu.RLock()
	defer h.roster.mu.RUnlock()
	out := make([]string, 0, len(h.roster.instances))
	for id := range h.roster.instances {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
