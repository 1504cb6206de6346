package mega

import (
	"runtime/debug"
	"sync"
	"time"
)

// After a join storm, the memory of its welcomes is garbage that Go keeps
// as resident memory: the heap may grow to twice what is live before a
// collection (GOGC=100), and the runtime returns free pages to the system
// only above that goal, and slowly. After 5,000 clients joined one room of
// the generated app at once, 22 KB per connection was live and 60 KB
// resident. So big welcomes count their bytes, and once a storm built more
// than reclaimAfter and then none for reclaimQuiet, the free pages go back
// to the system at once (debug.FreeOSMemory: one collection, a few tens of
// milliseconds once per storm); docs/performance.md has the figures.

// reclaimAfter is how many bytes of big welcomes make a storm worth
// reclaiming: a room of 1,000 filling up builds about 30 MB of welcomes.
const reclaimAfter = 64 << 20

// reclaimQuiet is how long no big welcome must be built before reclaiming.
const reclaimQuiet = 2 * time.Second

// stormReclaim is the process's reclaimer; Presence.Welcome feeds it.
var stormReclaim = &reclaimer{min: reclaimAfter, quiet: reclaimQuiet, free: debug.FreeOSMemory}

// reclaimer runs free once enough bytes were added and then none for
// quiet. Its timer goroutine exists only while a reclaim is due.
type reclaimer struct {
	min   int
	quiet time.Duration
	free  func()

	mu    sync.Mutex
	bytes int       // added since the last reclaim
	last  time.Time // when bytes were last added
	armed bool      // a timer will call fire
	runs  int       // reclaims so far
}

// add counts n bytes of a big welcome.
func (r *reclaimer) add(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bytes += n
	r.last = time.Now()
	if r.bytes >= r.min && !r.armed {
		r.armed = true
		time.AfterFunc(r.quiet, r.fire)
	}
}

// fire reclaims if the storm is quiet, or waits for the rest of the quiet.
func (r *reclaimer) fire() {
	r.mu.Lock()
	if wait := r.quiet - time.Since(r.last); wait > 0 {
		time.AfterFunc(wait, r.fire)
		r.mu.Unlock()
		return
	}
	r.armed, r.bytes = false, 0
	r.runs++
	r.mu.Unlock()
	r.free()
}
