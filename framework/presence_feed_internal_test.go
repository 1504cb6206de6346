package mega

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/hub"
)

func ev(op hub.Op, session, meta string) hub.Event {
	m := hub.Member{Namespace: "/ws/x", SessionID: session, UserID: "u-" + session}
	if meta != "" {
		m.Metadata = json.RawMessage(meta)
	}
	return hub.Event{Op: op, Member: m}
}

func sessions(list []hub.Member) string {
	ids := make([]string, len(list))
	for i, m := range list {
		ids[i] = m.SessionID + string(m.Metadata)
	}
	return strings.Join(ids, ",")
}

func TestFoldChanges(t *testing.T) {
	tests := []struct {
		name                   string
		events                 []hub.Event
		joins, leaves, updates string
	}{
		{"joins keep their order", []hub.Event{ev(hub.OpJoin, "b", ""), ev(hub.OpJoin, "a", "")}, "b,a", "", ""},
		{"join then leave is nothing", []hub.Event{ev(hub.OpJoin, "a", ""), ev(hub.OpLeave, "a", "")}, "", "", ""},
		{"join then update is a join with the last value", []hub.Event{ev(hub.OpJoin, "a", `{"v":1}`), ev(hub.OpUpdate, "a", `{"v":2}`)}, `a{"v":2}`, "", ""},
		{"updates fold to the last", []hub.Event{ev(hub.OpUpdate, "a", `{"v":1}`), ev(hub.OpUpdate, "a", `{"v":2}`)}, "", "", `a{"v":2}`},
		{"update then leave is a leave", []hub.Event{ev(hub.OpUpdate, "a", `{"v":1}`), ev(hub.OpLeave, "a", `{"v":1}`)}, "", `a{"v":1}`, ""},
		{"leave then join again is an update", []hub.Event{ev(hub.OpLeave, "a", `{"v":1}`), ev(hub.OpJoin, "a", `{"v":2}`)}, "", "", `a{"v":2}`},
		{"leave, join, leave is a leave", []hub.Event{ev(hub.OpLeave, "a", ""), ev(hub.OpJoin, "a", ""), ev(hub.OpLeave, "a", "")}, "", "a", ""},
		{"a mix", []hub.Event{ev(hub.OpJoin, "a", ""), ev(hub.OpLeave, "b", ""), ev(hub.OpJoin, "c", ""), ev(hub.OpLeave, "a", ""), ev(hub.OpUpdate, "d", `{}`)}, "c", "b", "d{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			d := foldChanges(tt.events)
			is.Equal(sessions(d.Joins), tt.joins)
			is.Equal(sessions(d.Leaves), tt.leaves)
			is.Equal(sessions(d.Updates), tt.updates)
		})
	}
}

// frameSink records the frames a hub delivers to one connection.
type frameSink struct {
	mu     sync.Mutex
	frames []string
	wake   chan struct{}
}

func (s *frameSink) Send(f []byte) {
	s.mu.Lock()
	s.frames = append(s.frames, string(f))
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next waits for the i-th frame (0-based).
func (s *frameSink) next(t *testing.T, i int) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		if len(s.frames) > i {
			f := s.frames[i]
			s.mu.Unlock()
			return f
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-deadline:
			t.Fatalf("no frame %d within 5s", i)
		}
	}
}

func TestPresenceFeedSendsALoneChangeAtOnceAndBatchesTheRest(t *testing.T) {
	is := is.New(t)
	app := NewApp("t")
	app.Channel("/ws/x", nopChannel{}, WithPresenceBatch(time.Hour)) // the batch ends only when we say
	t.Cleanup(func() { app.mounts["/ws/x"].feed.stop() })
	watcher := &frameSink{wake: make(chan struct{}, 1)}
	app.hub.Attach("/ws/x", watcher)
	feed := app.mounts["/ws/x"].feed

	app.hub.ApplyRemote("peer", hub.OpJoin, hub.Member{Namespace: "/ws/x", SessionID: "s1", UserID: "ann"})
	is.True(strings.HasPrefix(watcher.next(t, 0), `{"type":"presence.join","payload":{"ns":"/ws/x","sessionId":"s1"`)) // at once
	for _, id := range []string{"s2", "s3", "s4"} {
		app.hub.ApplyRemote("peer", hub.OpJoin, hub.Member{Namespace: "/ws/x", SessionID: id, UserID: "bob"})
	}
	app.hub.ApplyRemote("peer", hub.OpLeave, hub.Member{Namespace: "/ws/x", SessionID: "s3", UserID: "bob"}) // came and went
	app.hub.ApplyRemote("peer", hub.OpLeave, hub.Member{Namespace: "/ws/x", SessionID: "s1", UserID: "ann"})
	watcher.mu.Lock()
	is.Equal(len(watcher.frames), 1) // the rest waits for the end of the interval
	watcher.mu.Unlock()

	feed.tick() // the interval ends
	var diff struct {
		Type    string
		Payload struct{ Joins, Leaves, Updates []hub.Member }
	}
	is.NoErr(json.Unmarshal([]byte(watcher.next(t, 1)), &diff))
	is.Equal(diff.Type, "presence.diff")
	var joins []string
	for _, m := range diff.Payload.Joins {
		joins = append(joins, m.SessionID)
	}
	sort.Strings(joins)
	is.Equal(joins, []string{"s2", "s4"})
	is.Equal(len(diff.Payload.Leaves), 1)
	is.Equal(diff.Payload.Leaves[0].SessionID, "s1")
	is.Equal(len(diff.Payload.Updates), 0)

	feed.tick() // an interval with nothing in it closes the window
	feed.mu.Lock()
	is.True(!feed.open)
	feed.mu.Unlock()
	app.hub.ApplyRemote("peer", hub.OpLeave, hub.Member{Namespace: "/ws/x", SessionID: "s2", UserID: "bob"})
	is.True(strings.HasPrefix(watcher.next(t, 2), `{"type":"presence.leave"`)) // alone again: at once
}

func TestPresenceCountOnly(t *testing.T) {
	is := is.New(t)
	app := NewApp("t")
	app.Channel("/ws/x", nopChannel{}, WithPresenceCount(time.Hour))
	t.Cleanup(func() { app.mounts["/ws/x"].feed.stop() })
	watcher := &frameSink{wake: make(chan struct{}, 1)}
	app.hub.Attach("/ws/x", watcher)
	feed := app.mounts["/ws/x"].feed

	for _, id := range []string{"a", "b", "c"} {
		app.hub.ApplyRemote("peer", hub.OpJoin, hub.Member{Namespace: "/ws/x", SessionID: id, UserID: id})
	}
	is.Equal(watcher.next(t, 0), `{"type":"presence.count","payload":{"count":1}}`) // the first at once
	feed.tick()
	is.Equal(watcher.next(t, 1), `{"type":"presence.count","payload":{"count":3}}`) // then once per interval
	feed.tick()
	watcher.mu.Lock()
	is.Equal(len(watcher.frames), 2) // no change, no frame
	watcher.mu.Unlock()
}

func TestEncodeDiffSplitsLargeBatches(t *testing.T) {
	is := is.New(t)
	var d presenceDiff
	for i := range 500 {
		m := hub.Member{Namespace: "/ws/x", SessionID: fmt.Sprintf("s%04d", i), UserID: "u", Metadata: json.RawMessage(`{"name":"someone with a long name","room":"lobby"}`)}
		switch i % 3 {
		case 0:
			d.Joins = append(d.Joins, m)
		case 1:
			d.Leaves = append(d.Leaves, m)
		default:
			d.Updates = append(d.Updates, m)
		}
	}
	frames, err := encodeDiff(d, 4096)
	is.NoErr(err)
	is.True(len(frames) > 10)
	seen := map[string]string{}
	for _, f := range frames {
		is.True(len(f) <= 4096)
		var got struct {
			Type    string
			Payload struct{ Joins, Leaves, Updates []hub.Member }
		}
		is.NoErr(json.Unmarshal(f, &got)) // every part is a complete diff
		is.Equal(got.Type, "presence.diff")
		for op, list := range map[string][]hub.Member{"join": got.Payload.Joins, "leave": got.Payload.Leaves, "update": got.Payload.Updates} {
			for _, m := range list {
				seen[m.SessionID] = op
			}
		}
	}
	is.Equal(len(seen), 500) // every member once
	is.Equal(seen["s0000"], "join")
	is.Equal(seen["s0001"], "leave")
	is.Equal(seen["s0002"], "update")

	one, err := encodeDiff(presenceDiff{Joins: []hub.Member{{SessionID: "a"}}}, maxDiffFrame)
	is.NoErr(err)
	is.Equal(string(one[0]), `{"type":"presence.diff","payload":{"joins":[{"ns":"","sessionId":"a","userId":""}],"leaves":[],"updates":[]}}`)
}
