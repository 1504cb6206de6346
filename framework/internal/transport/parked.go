package transport

// Parked returns a connection with no socket whose writer counts as
// running: frames are queued by the rules of Send and never written, until
// Discard empties the queue. It is for benchmarks of the send path (the hub's
// fan-out up to the queue); the queue must stay under its limit, since a
// parked connection cannot be closed.
func Parked(opts Options, owner Owner) *Conn {
	c := newConn(nil, opts, owner)
	c.writing = true
	return c
}

// Discard empties the queue of a parked connection without freeing it, as
// a writer that keeps up would.
func (c *Conn) Discard() {
	c.mu.Lock()
	c.queue, c.queued = c.queue[:0], 0
	c.mu.Unlock()
}
