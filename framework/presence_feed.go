package mega

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/megaframework/mega/framework/hub"
)

// Presence frames (WithPresenceEvents). A lone roster change reaches every
// connection of the namespace at once as presence.join, presence.update or
// presence.leave. Changes that follow it within the batch interval are
// collected and sent together when the interval ends: one
// presence.diff {joins, leaves, updates} per interval, encoded once for the
// whole namespace, with each session's changes in the interval folded into
// its net effect (a member that joins and leaves inside one interval is not
// in it at all). A client that applies the frames in order — a join or an
// update sets the member, a leave deletes it — holds the exact roster.
//
// In count-only mode (WithPresenceCount) clients get presence.count
// {count} instead, at most once per interval: the member count of the
// namespace, cluster-wide.

// Presence frame defaults.
const (
	// DefaultPresenceBatch is how long presence changes are collected into
	// one presence.diff after a change was sent.
	DefaultPresenceBatch = 50 * time.Millisecond
	// DefaultPresenceCount is how often at most a count-only channel sends
	// presence.count.
	DefaultPresenceCount = 250 * time.Millisecond
)

// presenceDiff is the payload of presence.diff.
type presenceDiff struct {
	Joins   []hub.Member `json:"joins"`
	Leaves  []hub.Member `json:"leaves"`
	Updates []hub.Member `json:"updates"`
}

// presenceCount is the payload of presence.count.
type presenceCount struct {
	Count int `json:"count"`
}

// presenceFeed turns one namespace's roster changes into presence frames.
type presenceFeed struct {
	app       *App
	ns        string
	interval  time.Duration // 0: every change is sent at once, alone
	countOnly bool

	mu      sync.Mutex
	open    bool // an interval is running: changes wait for its end
	timer   *time.Timer
	pending []hub.Event // changes in the running interval
	dirty   bool        // count-only: the count may have changed
	stopped bool
}

// changed is the hub's callback: it runs on the goroutine that changed the
// roster and never blocks (delivery only queues frames).
func (f *presenceFeed) changed(ev hub.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.stopped:
	case f.interval <= 0:
		f.sendOne(ev)
	case f.open:
		if f.countOnly {
			f.dirty = true
		} else {
			f.pending = append(f.pending, ev)
		}
	default:
		// Nothing was sent for an interval: send this change now, and
		// collect what follows until the interval ends.
		if f.countOnly {
			f.sendCount()
		} else {
			f.sendOne(ev)
		}
		f.open = true
		if f.timer == nil {
			f.timer = time.AfterFunc(f.interval, f.tick)
		} else {
			f.timer.Reset(f.interval)
		}
	}
}

// tick ends an interval: it sends what was collected and starts the next
// interval, or closes it when nothing happened.
func (f *presenceFeed) tick() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	sent := false
	if f.countOnly {
		if f.dirty {
			f.dirty = false
			f.sendCount()
			sent = true
		}
	} else if len(f.pending) > 0 {
		sent = f.sendBatch(f.pending)
		clear(f.pending)
		f.pending = f.pending[:0]
	}
	if !sent {
		f.open = false
		return
	}
	f.timer.Reset(f.interval)
}

// stop ends the feed: nothing more is sent.
func (f *presenceFeed) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
	f.pending = nil
}

// sendOne sends one change as presence.<op> to everyone but the member's
// own session.
func (f *presenceFeed) sendOne(ev hub.Event) {
	frame, err := encodeFrame("presence."+ev.Op.String(), ev.Member, "")
	if err != nil {
		f.app.log.Error().Err(err).Str("ns", f.ns).Msg("encode presence event")
		return
	}
	f.app.hub.DeliverBroadcast(f.ns, "", []string{ev.Member.SessionID}, frame)
}

// sendBatch sends the net effect of events: nothing when they cancel out,
// a single presence.<op> frame when one change remains, else one
// presence.diff. It reports whether it sent a frame.
func (f *presenceFeed) sendBatch(events []hub.Event) bool {
	d := foldChanges(events)
	switch n := len(d.Joins) + len(d.Leaves) + len(d.Updates); {
	case n == 0:
		return false
	case n == 1:
		ev := hub.Event{Op: hub.OpJoin}
		switch {
		case len(d.Joins) == 1:
			ev.Member = d.Joins[0]
		case len(d.Leaves) == 1:
			ev.Op, ev.Member = hub.OpLeave, d.Leaves[0]
		default:
			ev.Op, ev.Member = hub.OpUpdate, d.Updates[0]
		}
		f.sendOne(ev)
		return true
	}
	frames, err := encodeDiff(d, maxDiffFrame)
	if err != nil {
		f.app.log.Error().Err(err).Str("ns", f.ns).Msg("encode presence.diff")
		return false
	}
	for _, frame := range frames {
		f.app.hub.DeliverBroadcast(f.ns, "", nil, frame)
	}
	return true
}

// maxDiffFrame bounds a presence.diff frame: a large batch is split into
// several diffs (each session's change is independent of the others), so
// a client with a common default read limit (32 KiB in coder/websocket)
// can read every one.
const maxDiffFrame = 30 << 10

// encodeDiff encodes d as presence.diff frames of at most max bytes each
// (a single member larger than that gets a frame of its own).
func encodeDiff(d presenceDiff, max int) ([][]byte, error) {
	const head = `{"type":"presence.diff","payload":{`
	var frames [][]byte
	var cur [3][][]byte // encoded joins, leaves, updates of the frame being built
	size := 0
	flush := func() {
		if size == 0 {
			return
		}
		b := make([]byte, 0, len(head)+size+48)
		b = append(b, head...)
		for i, key := range [3]string{`"joins":[`, `,"leaves":[`, `,"updates":[`} {
			b = append(b, key...)
			for j, m := range cur[i] {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, m...)
			}
			b = append(b, ']')
			cur[i] = cur[i][:0]
		}
		frames = append(frames, append(b, "}}"...))
		size = 0
	}
	for i, list := range [3][]hub.Member{d.Joins, d.Leaves, d.Updates} {
		for k := range list {
			m, err := json.Marshal(&list[k])
			if err != nil {
				return nil, err
			}
			if size > 0 && size+len(m)+1 > max-len(head)-48 {
				flush()
			}
			cur[i] = append(cur[i], m)
			size += len(m) + 1
		}
	}
	flush()
	return frames, nil
}

// sendCount sends the namespace's member count.
func (f *presenceFeed) sendCount() {
	payload, _ := json.Marshal(presenceCount{Count: f.app.hub.Count(f.ns)})
	f.app.hub.DeliverBroadcast(f.ns, "", nil, appendFrame(nil, "presence.count", payload, ""))
}

// foldChanges reduces a run of changes to their net effect per session,
// relative to the roster before the first of them: a session that was
// absent and is present joined, one that was present and is absent left,
// one present before and after was updated (its last value), and one that
// came and went is left out. Sessions keep the order of their first change.
func foldChanges(events []hub.Event) presenceDiff {
	type net struct {
		existed bool // present before the run (its first change was not a join)
		last    hub.Event
	}
	var order []string
	bySession := make(map[string]*net, len(events))
	for _, ev := range events {
		id := ev.Member.SessionID
		n := bySession[id]
		if n == nil {
			n = &net{existed: ev.Op != hub.OpJoin}
			bySession[id] = n
			order = append(order, id)
		}
		n.last = ev
	}
	d := presenceDiff{Joins: []hub.Member{}, Leaves: []hub.Member{}, Updates: []hub.Member{}}
	for _, id := range order {
		n := bySession[id]
		present := n.last.Op != hub.OpLeave
		switch {
		case !n.existed && present:
			d.Joins = append(d.Joins, n.last.Member)
		case n.existed && !present:
			d.Leaves = append(d.Leaves, n.last.Member)
		case n.existed && present:
			d.Updates = append(d.Updates, n.last.Member)
		}
	}
	return d
}
