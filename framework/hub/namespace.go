package hub

import (
	"slices"
	"sync"
)

// namespace holds the local connections of one WebSocket path.
type namespace struct {
	name   string
	shards [numShards]shard

	// interestMu orders interest changes so the cluster sees on/off in the
	// same order as the count moves through zero.
	interestMu sync.Mutex
	count      int
}

func newNamespace(name string) *namespace {
	n := &namespace{name: name}
	for i := range n.shards {
		n.shards[i].channels = make(map[string][]*Conn)
		n.shards[i].users = make(map[string][]*Conn)
	}
	return n
}

// shard is one slice of a namespace's connections with its own lock. The
// delivery paths hold its read lock while they hand the frame to each
// recipient's non-blocking Send.
type shard struct {
	mu       sync.RWMutex
	conns    []*Conn
	channels map[string][]*Conn // sub-channel → joined connections
	users    map[string][]*Conn // user id → joined connections
}

func (s *shard) add(c *Conn) {
	s.mu.Lock()
	c.idx = len(s.conns)
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

// remove drops c from the shard and reports whether it was still there.
func (s *shard) remove(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.detached {
		return false
	}
	c.detached = true
	last := len(s.conns) - 1
	moved := s.conns[last]
	s.conns[c.idx] = moved
	moved.idx = c.idx
	s.conns[last] = nil
	s.conns = s.conns[:last]
	return true
}

// index adds c under its member's channels and user; s.mu must be held.
func (s *shard) index(c *Conn) {
	m := c.member
	for _, ch := range m.Channels {
		s.channels[ch] = append(s.channels[ch], c)
	}
	s.users[m.UserID] = append(s.users[m.UserID], c)
}

// unindex reverses index; s.mu must be held.
func (s *shard) unindex(c *Conn) {
	m := c.member
	for _, ch := range m.Channels {
		s.channels[ch] = removeConn(s.channels[ch], c)
		if len(s.channels[ch]) == 0 {
			delete(s.channels, ch)
		}
	}
	s.users[m.UserID] = removeConn(s.users[m.UserID], c)
	if len(s.users[m.UserID]) == 0 {
		delete(s.users, m.UserID)
	}
}

func removeConn(list []*Conn, c *Conn) []*Conn {
	if i := slices.Index(list, c); i >= 0 {
		last := len(list) - 1
		list[i] = list[last]
		list[last] = nil
		return list[:last]
	}
	return list
}

func (s *shard) deliver(channel string, except []string, frame []byte) {
	s.mu.RLock()
	list := s.conns
	if channel != "" {
		list = s.channels[channel]
	}
	for _, c := range list {
		if len(except) > 0 && c.member != nil && slices.Contains(except, c.member.SessionID) {
			continue
		}
		c.client.Send(frame)
	}
	s.mu.RUnlock()
}

func (s *shard) deliverUser(userID string, frame []byte) {
	s.mu.RLock()
	for _, c := range s.users[userID] {
		c.client.Send(frame)
	}
	s.mu.RUnlock()
}
