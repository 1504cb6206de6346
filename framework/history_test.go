package mega_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/history"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// room is a channel with history: ?name= is the user, ?room= the
// sub-channel; "say {text}" broadcasts "said {text}" to the room.
type room struct{ r *mega.Router }

func newRoom() *room {
	c := &room{r: mega.NewRouter()}
	mega.Handle(c.r, "say", func(ctx *mega.Ctx, in struct{ Text string }) error {
		return ctx.Presence.Broadcast(mega.Broadcast{Channel: roomOf(ctx), Type: "said", Payload: in})
	})
	return c
}

func roomOf(ctx *mega.Ctx) string { return ctx.Request().URL.Query().Get("room") }

func (c *room) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Presence.Join(mega.Entry{Channels: []string{roomOf(ctx)}}); err != nil {
		return err
	}
	return ctx.Send("welcome", nil)
}

func (c *room) OnMessage(ctx *mega.Ctx, msg mega.Message) error { return c.r.Dispatch(ctx, msg) }

func historyApps(opts ...mega.ChannelOption) mega.Apps {
	return mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		// Tests send faster than a person: lift the inbound rate limit.
		fast := mega.WithChannelLimits(mega.Limits{MessagesPerSecond: 1e6, Burst: 1e6})
		app.Channel("/ws/room", newRoom(), append([]mega.ChannelOption{mega.WithAuth(auth), fast}, opts...)...)
		return app, nil
	}}
}

// wire is a frame as a history client sees it.
type wire struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Ref     string          `json:"ref"`
	Channel string          `json:"channel"`
	Epoch   string          `json:"epoch"`
	Offset  uint64          `json:"offset"`
}

func (w wire) text(t *testing.T) string {
	t.Helper()
	var p struct{ Text string }
	if err := json.Unmarshal(w.Payload, &p); err != nil {
		t.Fatalf("payload of %s: %v", w.Type, err)
	}
	return p.Text
}

// reader keeps every frame of one connection in arrival order.
type reader struct {
	ws   *websocket.Conn
	mu   sync.Mutex
	got  []wire
	done chan struct{}
}

func dialRoom(t *testing.T, srv *megatest.Server, query string) *reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), megatest.Timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.WebSocketURL("/ws/room?"+query), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := &reader{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var w wire
			_ = json.Unmarshal(b, &w)
			r.mu.Lock()
			r.got = append(r.got, w)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.close)
	r.wait(t, "welcome", func(got []wire) bool { return count(got, "welcome") == 1 })
	return r
}

func (r *reader) close() {
	_ = r.ws.Close(websocket.StatusNormalClosure, "")
	<-r.done
}

func (r *reader) send(t *testing.T, typ string, payload any, ref string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"type": typ, "payload": payload, "ref": ref})
	ctx, cancel := context.WithTimeout(context.Background(), megatest.Timeout)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("send %s: %v", typ, err)
	}
}

// wait polls the frames until cond holds, failing after a deadline.
func (r *reader) wait(t *testing.T, what string, cond func([]wire) bool) []wire {
	t.Helper()
	var got []wire
	if _, ok := testkit.Poll(10*time.Second, func() bool {
		r.mu.Lock()
		got = append(got[:0], r.got...)
		r.mu.Unlock()
		return cond(got)
	}); !ok {
		var seen []string
		for _, w := range got {
			seen = append(seen, w.Type+" "+string(w.Payload))
		}
		t.Fatalf("timed out after 10s waiting for %s; got:\n%s", what, strings.Join(seen, "\n"))
	}
	return got
}

func count(got []wire, typ string) int {
	n := 0
	for _, w := range got {
		if w.Type == typ {
			n++
		}
	}
	return n
}

func only(got []wire, typ string) []wire {
	var out []wire
	for _, w := range got {
		if w.Type == typ {
			out = append(out, w)
		}
	}
	return out
}

func reply(got []wire, ref string) (wire, bool) {
	for _, w := range got {
		if w.Ref == ref {
			return w, true
		}
	}
	return wire{}, false
}

// bootHistory boots n instances keeping history on one JetStream server.
func bootHistory(t *testing.T, n int, opts ...mega.ChannelOption) []*megatest.Server {
	t.Helper()
	url := natstest.URL(natstest.StartJetStream(t, ""))
	urls := make([]string, n)
	for i := range urls {
		urls[i] = url
	}
	return megatest.BootOn(t, urls, historyApps(append([]mega.ChannelOption{mega.WithHistory(mega.History{})}, opts...)...), "")
}

func TestHistoryOffsetsAgreeOnEveryInstance(t *testing.T) {
	is := is.New(t)
	srvs := bootHistory(t, 2)
	ann := dialRoom(t, srvs[0], "name=ann&room=r1")
	bob := dialRoom(t, srvs[1], "name=bob&room=r1")
	other := dialRoom(t, srvs[1], "name=cid&room=r2")
	for i := range 10 {
		who := ann
		if i%2 == 1 {
			who = bob
		}
		who.send(t, "say", map[string]string{"text": fmt.Sprint("m", i)}, "")
	}
	other.send(t, "say", map[string]string{"text": "elsewhere"}, "")
	has10 := func(got []wire) bool { return count(got, "said") == 10 }
	a, b := only(ann.wait(t, "ann gets 10", has10), "said"), only(bob.wait(t, "bob gets 10", has10), "said")
	var last uint64
	for i := range a {
		is.Equal(a[i].Channel, "r1")
		is.True(a[i].Epoch != "")
		is.True(a[i].Offset > last) // offsets strictly increase
		last = a[i].Offset
		is.Equal(a[i].Offset, b[i].Offset) // and agree across instances
		is.Equal(a[i].Epoch, b[i].Epoch)
		is.Equal(a[i].text(t), b[i].text(t))
	}
	o := only(other.wait(t, "cid gets its room's message", func(got []wire) bool { return count(got, "said") == 1 }), "said")
	is.Equal(o[0].Channel, "r2")
	is.Equal(o[0].Epoch, a[0].Epoch) // one epoch per namespace
}

func TestHistoryGetReturnsTheLastMessagesOldestFirst(t *testing.T) {
	is := is.New(t)
	srvs := bootHistory(t, 2)
	ann := dialRoom(t, srvs[0], "name=ann&room=r1")
	for i := range 10 {
		ann.send(t, "say", map[string]string{"text": fmt.Sprint("m", i)}, "")
	}
	live := only(ann.wait(t, "10 said", func(got []wire) bool { return count(got, "said") == 10 }), "said")

	bob := dialRoom(t, srvs[1], "name=bob&room=r1")
	bob.send(t, "history.get", map[string]any{"channel": "r1", "limit": 4}, "h1")
	bob.send(t, "history.get", map[string]any{"channel": "r1"}, "h2")
	bob.send(t, "history.get", map[string]any{"channel": "nobody-spoke-here"}, "h3")
	got := bob.wait(t, "three history replies", func(got []wire) bool { return count(got, "history") == 3 })

	type hist struct {
		Channel  string
		Epoch    string
		Offset   uint64
		Messages []wire
	}
	decode := func(ref string) hist {
		w, ok := reply(got, ref)
		is.True(ok)
		var h hist
		is.NoErr(json.Unmarshal(w.Payload, &h))
		return h
	}
	h1 := decode("h1")
	is.Equal(len(h1.Messages), 4)
	for i, m := range h1.Messages {
		is.Equal(m.Type, "said")
		is.Equal(m.text(t), fmt.Sprint("m", 6+i)) // the last four, oldest first
		is.Equal(m.Offset, live[6+i].Offset)
		is.Equal(m.Channel, "r1")
	}
	is.Equal(h1.Offset, live[9].Offset)
	is.Equal(h1.Epoch, live[9].Epoch)
	is.Equal(len(decode("h2").Messages), 10)
	h3 := decode("h3")
	is.Equal(len(h3.Messages), 0)
	is.Equal(h3.Offset, uint64(0))
}

func TestHistoryRecoverIsExactAcrossInstances(t *testing.T) {
	is := is.New(t)
	srvs := bootHistory(t, 2)
	ann := dialRoom(t, srvs[0], "name=ann&room=r1")
	bob := dialRoom(t, srvs[1], "name=bob&room=r1")
	say := func(n int) {
		bob.send(t, "say", map[string]string{"text": fmt.Sprint("m", n)}, "")
	}
	for i := range 5 {
		say(i)
	}
	seen := only(ann.wait(t, "first 5", func(got []wire) bool { return count(got, "said") == 5 }), "said")
	pos := seen[4]
	ann.close()

	// 50 while ann is away, on the other instance.
	for i := 5; i < 55; i++ {
		say(i)
	}
	bob.wait(t, "bob has 55", func(got []wire) bool { return count(got, "said") == 55 })

	// Ann comes back; 50 more are sent while she recovers.
	ann2 := dialRoom(t, srvs[0], "name=ann&room=r1")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 55; i < 105; i++ {
			say(i)
		}
	}()
	ann2.send(t, "history.recover", map[string]any{"channel": "r1", "epoch": pos.Epoch, "offset": pos.Offset}, "rec")
	wg.Wait()
	got := ann2.wait(t, "recovered and the last message", func(got []wire) bool {
		_, ok := reply(got, "rec")
		return ok && slices.ContainsFunc(got, func(w wire) bool { return w.Type == "said" && strings.Contains(string(w.Payload), `"m104"`) })
	})
	// What a client does: frames of the room that come before the reply
	// wait, then go out in offset order, once, above the position it had;
	// after the reply frames come in order and nothing repeats.
	var texts []string
	var before []wire
	last, replied := pos.Offset, false
	for _, w := range got {
		switch {
		case w.Ref == "rec":
			var r struct {
				Recovered bool
				Epoch     string
				Offset    uint64
			}
			is.NoErr(json.Unmarshal(w.Payload, &r))
			is.True(r.Recovered)
			is.Equal(r.Epoch, pos.Epoch)
			slices.SortStableFunc(before, func(a, b wire) int { return cmp.Compare(a.Offset, b.Offset) })
			for _, b := range before {
				if b.Offset > last {
					last = b.Offset
					texts = append(texts, b.text(t))
				}
			}
			replied = true
		case w.Type != "said":
		case !replied:
			before = append(before, w)
		default:
			is.True(w.Offset > last) // after the reply nothing repeats or goes back
			last = w.Offset
			texts = append(texts, w.text(t))
		}
	}
	want := make([]string, 0, 100)
	for i := 5; i < 105; i++ {
		want = append(want, fmt.Sprint("m", i))
	}
	is.Equal(strings.Join(texts, ","), strings.Join(want, ","))
}

func TestHistoryRecoverFromAGonePosition(t *testing.T) {
	is := is.New(t)
	srvs := bootHistory(t, 1, mega.WithHistory(mega.History{Size: 3}))
	ann := dialRoom(t, srvs[0], "name=ann&room=r1")
	// The stream keeps history.Kept(3) messages of r1: m0, m1 and m2 go.
	n := history.Kept(3) + 3
	for i := range n {
		ann.send(t, "say", map[string]string{"text": fmt.Sprint("m", i)}, "")
	}
	said := only(ann.wait(t, "all said", func(got []wire) bool { return count(got, "said") == n }), "said")
	recovered := func(ref string, epoch string, offset uint64) bool {
		ann.send(t, "history.recover", map[string]any{"channel": "r1", "epoch": epoch, "offset": offset}, ref)
		got := ann.wait(t, "reply "+ref, func(got []wire) bool { _, ok := reply(got, ref); return ok })
		w, _ := reply(got, ref)
		var r struct{ Recovered bool }
		is.NoErr(json.Unmarshal(w.Payload, &r))
		return r.Recovered
	}
	is.True(!recovered("old", said[0].Epoch, said[1].Offset)) // m2 is gone
	is.True(recovered("edge", said[0].Epoch, said[2].Offset)) // m3 onwards are all kept
	is.True(!recovered("epoch", "another-epoch", said[n-1].Offset))
	is.True(recovered("top", said[0].Epoch, said[n-1].Offset))
}

func TestHistorySurvivesAppAndNATSRestarts(t *testing.T) {
	is := is.New(t)
	ns := natstest.StartJetStream(t, "")
	url := natstest.URL(ns)
	apps := historyApps(mega.WithHistory(mega.History{}))
	first := megatest.Boot(t, url, apps, "")
	ann := dialRoom(t, first, "name=ann&room=r1")
	for i := range 3 {
		ann.send(t, "say", map[string]string{"text": fmt.Sprint("m", i)}, "")
	}
	said := only(ann.wait(t, "3 said", func(got []wire) bool { return count(got, "said") == 3 }), "said")
	ann.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	is.NoErr(first.Instance.Shutdown(ctx))

	natstest.Restart(t, ns) // same store directory
	second := megatest.Boot(t, url, apps, "")
	bob := dialRoom(t, second, "name=bob&room=r1")
	bob.send(t, "history.get", map[string]any{"channel": "r1"}, "h")
	got := bob.wait(t, "history", func(got []wire) bool { _, ok := reply(got, "h"); return ok })
	w, _ := reply(got, "h")
	var h struct {
		Epoch    string
		Messages []wire
	}
	is.NoErr(json.Unmarshal(w.Payload, &h))
	is.Equal(len(h.Messages), 3)
	is.Equal(h.Epoch, said[0].Epoch) // the same history, not a new one
	is.Equal(h.Messages[2].Offset, said[2].Offset)
}

func TestHistoryRefusesANATSWithoutJetStream(t *testing.T) {
	is := is.New(t)
	url := natstest.URL(natstest.StartServer(t))
	cfg, err := config.Parse([]byte("wsCluster: {bus: main}\nservices: {buses: {main: {driver: nats, url: '"+url+"'}}}\nserver: {addr: '127.0.0.1:0'}\nlogger: {level: error}"), nil)
	is.NoErr(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = mega.Boot(ctx, cfg, historyApps(mega.WithHistory(mega.History{})))
	is.True(err != nil)
	is.True(errors.Is(err, history.ErrNoJetStream))
	for _, want := range []string{"/ws/room", "without JetStream", "-js", url} {
		is.True(strings.Contains(err.Error(), want)) // names the channel, the URL and what to enable
	}
}

// yamlCluster is the wsCluster section megatest.Boot points at its NATS.
const yamlCluster = "wsCluster: {bus: main}\nservices: {buses: {main: {driver: nats, url: embedded}}}\n"

func TestHistoryFromMegaYAML(t *testing.T) {
	is := is.New(t)
	url := natstest.URL(natstest.StartJetStream(t, ""))
	// No WithHistory in code: mega.yaml turns it on.
	srv := megatest.Boot(t, url, historyApps(), yamlCluster+"appConfig: {main: {channels: {/ws/room: {history: {size: 2}}}}}")
	ann := dialRoom(t, srv, "name=ann&room=r1")
	for i := range 3 {
		ann.send(t, "say", map[string]string{"text": fmt.Sprint("m", i)}, "")
	}
	said := only(ann.wait(t, "3 said", func(got []wire) bool { return count(got, "said") == 3 }), "said")
	is.True(said[2].Offset > 0)
	ann.send(t, "history.get", map[string]any{"channel": "r1"}, "h")
	got := ann.wait(t, "history", func(got []wire) bool { _, ok := reply(got, "h"); return ok })
	w, _ := reply(got, "h")
	var h struct{ Messages []wire }
	is.NoErr(json.Unmarshal(w.Payload, &h))
	is.Equal(len(h.Messages), 2) // size: 2

	// And off again, over a history set in code.
	off := megatest.Boot(t, url, historyApps(mega.WithHistory(mega.History{})), yamlCluster+"appConfig: {main: {channels: {/ws/room: {history: {enabled: false}}}}}")
	bob := dialRoom(t, off, "name=bob&room=r1")
	bob.send(t, "say", map[string]string{"text": "plain"}, "")
	plain := only(bob.wait(t, "said", func(got []wire) bool { return count(got, "said") == 1 }), "said")
	is.Equal(plain[0].Offset, uint64(0)) // no position on frames without history
	bob.send(t, "history.get", map[string]any{"channel": "r1"}, "h")
	got = bob.wait(t, "error", func(got []wire) bool { return count(got, "error") == 1 })
	is.True(strings.Contains(string(only(got, "error")[0].Payload), "unknown_type"))
}

func TestHistoryConfigNamesAMissingChannel(t *testing.T) {
	is := is.New(t)
	cfg, err := config.Parse([]byte("appConfig: {main: {channels: {/ws/nope: {history: {enabled: false}}}}}\nserver: {addr: '127.0.0.1:0'}"), nil)
	is.NoErr(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = mega.Boot(ctx, cfg, historyApps())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "appConfig.main.channels names /ws/nope, where the app mounts no channel (it mounts /ws/room)"))

	// History in code without a cluster to keep it in.
	cfg, err = config.Parse([]byte("server: {addr: '127.0.0.1:0'}"), nil)
	is.NoErr(err)
	_, err = mega.Boot(ctx, cfg, historyApps(mega.WithHistory(mega.History{})))
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "channel /ws/room keeps history, which lives in NATS JetStream: add a wsCluster section"))
}

func TestHistoryRequestsAreChecked(t *testing.T) {
	is := is.New(t)
	srvs := bootHistory(t, 1, mega.WithAuthorize(func(c *mega.Ctx, channel string) error {
		if channel == "secret" {
			return mega.ErrForbidden
		}
		return nil
	}))
	ann := dialRoom(t, srvs[0], "name=ann&room=r1")
	for i, tc := range []struct {
		typ     string
		payload any
		code    string
	}{
		{"history.get", map[string]any{"channel": "secret"}, mega.CodeForbidden},
		{"history.recover", map[string]any{"channel": "secret", "epoch": "x", "offset": 1}, mega.CodeForbidden},
		{"history.get", map[string]any{}, mega.CodeBadRequest},
		{"history.get", map[string]any{"channel": "r1", "limit": -1}, mega.CodeBadRequest},
		{"history.recover", map[string]any{"channel": "r1", "offset": "ten"}, mega.CodeBadRequest},
		{"history.get", "r1", mega.CodeBadRequest},
	} {
		ref := fmt.Sprint("q", i)
		ann.send(t, tc.typ, tc.payload, ref)
		got := ann.wait(t, "reply "+ref, func(got []wire) bool { _, ok := reply(got, ref); return ok })
		w, _ := reply(got, ref)
		var e struct{ Code string }
		is.NoErr(json.Unmarshal(w.Payload, &e))
		is.Equal(w.Type, "error")
		is.Equal(e.Code, tc.code)
	}
	ann.send(t, "say", map[string]string{"text": "still here"}, "")
	ann.wait(t, "connection still serves", func(got []wire) bool { return count(got, "said") == 1 })
}

func TestHistoryOnTheEmbeddedNATS(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
server: {addr: '127.0.0.1:0'}
logger: {level: error}
services: {buses: {main: {driver: nats, url: embedded, storeDir: '`+dir+`'}}}
wsCluster: {bus: main}
appConfig: {main: {channels: {/ws/room: {history: {size: 10, ttl: 1m}}}}}`), nil)
	is.NoErr(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inst, err := mega.Boot(ctx, cfg, historyApps())
	is.NoErr(err)
	defer func() { is.NoErr(inst.Shutdown(ctx)) }()
	srv := &megatest.Server{URL: inst.URL(), App: inst.App("main"), Instance: inst}
	ann := dialRoom(t, srv, "name=ann&room=r1")
	ann.send(t, "say", map[string]string{"text": "kept"}, "")
	said := only(ann.wait(t, "said", func(got []wire) bool { return count(got, "said") == 1 }), "said")
	is.Equal(said[0].Offset, uint64(1))
	entries, err := os.ReadDir(filepath.Join(dir, "jetstream"))
	is.NoErr(err) // JetStream keeps its files under storeDir
	is.True(len(entries) > 0)
	ann.close()
}

func TestHistoryLostStreamStartsANewEpoch(t *testing.T) {
	is := is.New(t)
	ns := natstest.StartJetStream(t, "")
	srvs := megatest.BootOn(t, []string{natstest.URL(ns), natstest.URL(ns)}, historyApps(mega.WithHistory(mega.History{})), "")
	ann := dialRoom(t, srvs[0], "name=ann&room=r1")
	bob := dialRoom(t, srvs[1], "name=bob&room=r1")
	ann.send(t, "say", map[string]string{"text": "before"}, "")
	before := only(bob.wait(t, "before", func(got []wire) bool { return count(got, "said") == 1 }), "said")[0]

	// NATS comes back without its disk: the stream is gone.
	natstest.RestartLosingStore(t, ns)

	// The instances create it again, in a new epoch, and the next broadcast
	// reaches both of them. (The bus reconnects first: a message sent while
	// it is away gets an error frame, so a client would send it again.)
	natstest.WaitFor(t, 10*time.Second, "both instances ready again", func() bool {
		return srvs[0].Instance.Err() == nil && ready(srvs[0]) && ready(srvs[1])
	})
	ann.send(t, "say", map[string]string{"text": "after"}, "")
	for _, c := range []*reader{ann, bob} {
		after := only(c.wait(t, "after", func(got []wire) bool { return count(got, "said") == 2 }), "said")[1]
		is.Equal(after.text(t), "after")
		is.True(after.Epoch != before.Epoch)
	}
	bob.send(t, "history.recover", map[string]any{"channel": "r1", "epoch": before.Epoch, "offset": before.Offset}, "rec")
	got := bob.wait(t, "recovered", func(got []wire) bool { _, ok := reply(got, "rec"); return ok })
	w, _ := reply(got, "rec")
	var r struct{ Recovered bool }
	is.NoErr(json.Unmarshal(w.Payload, &r))
	is.True(!r.Recovered) // a position of the lost history cannot be recovered
}

// ready reports whether the instance answers /readyz with 200.
func ready(s *megatest.Server) bool {
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
