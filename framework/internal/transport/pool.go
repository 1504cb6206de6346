package transport

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The writers of all connections are a small pool of goroutines, not one
// goroutine per connection with frames queued (ADR 0012). A broadcast to a
// thousand idle connections used to start a thousand writer goroutines at
// once; every other goroutine of the process (the NATS reader that brings
// the next broadcast, the NATS flusher that sends this one to the other
// instances) then waited behind them in the run queues. Now it readies a
// connection per recipient on the pool's list and wakes at most a few
// workers: one per CPU but one, so that writers never hold every CPU.
//
// A worker writes one batch of a connection (all its queued frames, corked
// into one write) and puts the connection back at the tail when more came
// meanwhile, so one busy connection cannot hold a worker. A write to a
// client that does not read blocks once the socket's buffer is full; a
// worker in the same write for longer than stuckAfter no longer counts
// toward the pool's size, and another is started for the connections that
// wait, so a stalled client costs one goroutine, as before, and delays
// nobody else. Workers exit when the list is empty: an idle process has
// none.

// stuckAfter is how long a worker may be in one batch's write before it
// stops counting toward the pool's size. A batch to a client that keeps up
// takes microseconds on a local network; a big welcome, a millisecond.
const stuckAfter = 2 * time.Millisecond

// writers is the process's pool.
var writers = newPool(0)

// pool runs the writers of connections with frames queued.
type pool struct {
	size int // workers that write at once, not counting stuck ones; 0: GOMAXPROCS-1, at least 1

	mu      sync.Mutex
	ready   []*Conn // connections waiting for a worker, oldest first
	head    int     // ready[head:] are waiting
	workers map[*worker]struct{}
	armed   bool // a timer will look for stuck workers
}

// worker is one goroutine of the pool.
type worker struct {
	since atomic.Int64 // when the batch being written began, in Unix nanoseconds; 0 between batches
}

// stuck reports whether w has been in one batch since before now-stuckAfter.
func (w *worker) stuck(now int64) bool {
	since := w.since.Load()
	return since != 0 && now-since > int64(stuckAfter)
}

func newPool(size int) *pool {
	return &pool{size: size, workers: make(map[*worker]struct{})}
}

// push readies c, whose writer is marked running, for a worker.
func (p *pool) push(c *Conn) {
	p.mu.Lock()
	p.ready = append(p.ready, c)
	p.grow()
	p.mu.Unlock()
}

// grow starts workers while connections wait and fewer than size workers
// are writing or free; p.mu is held.
func (p *pool) grow() {
	waiting := len(p.ready) - p.head
	if waiting == 0 {
		return
	}
	size := p.limit()
	active := len(p.workers)
	if active >= size {
		now := time.Now().UnixNano()
		for w := range p.workers {
			if w.stuck(now) {
				active--
			}
		}
	}
	for ; active < size && waiting > 0; active, waiting = active+1, waiting-1 {
		w := &worker{}
		p.workers[w] = struct{}{}
		go p.run(w)
	}
	if waiting > 0 && !p.armed {
		// Every worker is busy; if they are writing to clients that do
		// not read, nobody else would start one until the next push.
		p.armed = true
		time.AfterFunc(stuckAfter, p.check)
	}
}

// limit is how many workers may write at once, stuck ones not counted.
func (p *pool) limit() int {
	if p.size > 0 {
		return p.size
	}
	// One P is left to the rest: the readers, the handlers and the NATS
	// reader and flusher that carry broadcasts between instances.
	// GOMAXPROCS may change while the process runs.
	return max(runtime.GOMAXPROCS(0)-1, 1)
}

// check starts workers in place of stuck ones while connections wait.
func (p *pool) check() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	p.grow()
}

// run is a worker: it writes a batch of each connection on the list until
// the list is empty.
func (p *pool) run(w *worker) {
	var again *Conn // the connection just written, with more queued meanwhile
	for {
		p.mu.Lock()
		if again != nil {
			p.ready = append(p.ready, again)
		}
		if p.head == len(p.ready) {
			delete(p.workers, w)
			p.ready, p.head = p.ready[:0], 0
			if cap(p.ready) > 4096 {
				p.ready = nil // a storm's list: do not keep it for good
			}
			p.mu.Unlock()
			return
		}
		c := p.ready[p.head]
		p.ready[p.head] = nil
		p.head++
		if p.head >= 1024 && 2*p.head >= len(p.ready) {
			// Under steady load the list never empties: move what waits
			// to the front so that appends do not grow it without end.
			n := copy(p.ready, p.ready[p.head:])
			clear(p.ready[n:])
			p.ready, p.head = p.ready[:n], 0
		}
		p.mu.Unlock()

		w.since.Store(time.Now().UnixNano())
		again = nil
		if c.writeBatch() {
			again = c
		}
		w.since.Store(0)
	}
}

// Writers reports the process's pool of writers: the workers running,
// stuck ones included, and the connections waiting for one. Both are zero
// while nothing is being sent; waiting that stays high means writes lag
// behind the traffic.
func Writers() (running, waiting int) {
	writers.mu.Lock()
	defer writers.mu.Unlock()
	return len(writers.workers), len(writers.ready) - writers.head
}
