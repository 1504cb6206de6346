package mega_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
)

// twoNamespaces is the chat app with a second channel at /ws/dash, so a
// user can be in two namespaces at once.
func twoNamespaces(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceEvents())
	app.Channel("/ws/dash", newChat(), mega.WithAuth(auth))
	return app, nil
}

// bootRouted boots n instances of twoNamespaces, each on its own node of a
// 3-node NATS cluster joined by routes.
func bootRouted(t *testing.T, n int) []*megatest.Server {
	t.Helper()
	servers := natstest.StartCluster(t, 3)
	urls := make([]string, n)
	for i := range urls {
		urls[i] = natstest.URL(servers[i%len(servers)])
	}
	return megatest.BootOn(t, urls, mega.Apps{"main": twoNamespaces}, "")
}

// fence broadcasts a marker from srv's app and waits until every client
// has it: whatever was sent to them before has arrived by then.
func fenceAll(t *testing.T, srv *megatest.Server, ns string, clients ...*megatest.Client) {
	t.Helper()
	if err := srv.App.Broadcast(ns, mega.Broadcast{Type: "fence"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.Expect(t, "fence")
	}
}

func TestAppBroadcastFromAGoroutineReachesEveryClientOnce(t *testing.T) {
	is := is.New(t)
	nodes := bootRouted(t, 3)

	// Before any connection exists: nothing to reach, no error.
	is.NoErr(nodes[0].App.Broadcast("/ws/chat", mega.Broadcast{Type: "early"}))

	var clients []*megatest.Client
	for _, n := range nodes {
		for _, name := range []string{"ann", "bob"} {
			c, _ := dial(t, n, "name="+name+"&channel=lobby")
			clients = append(clients, c)
		}
	}
	// Every instance sees all six members: each one's interest is in place.
	natstest.WaitFor(t, megatest.Timeout, "every instance lists 6 members", func() bool {
		for _, n := range nodes {
			if len(n.App.List("/ws/chat")) != 6 {
				return false
			}
		}
		return true
	})
	fenceAll(t, nodes[0], "/ws/chat", clients...)
	fenceAll(t, nodes[1], "/ws/chat", clients...)
	fenceAll(t, nodes[2], "/ws/chat", clients...)

	// A job with no connection of its own, on another goroutine.
	errc := make(chan error, 1)
	go func() {
		errc <- nodes[1].App.Broadcast("/ws/chat", mega.Broadcast{Channel: "lobby", Type: "rooms.created", Payload: map[string]any{"id": 7}})
	}()
	is.NoErr(<-errc)
	for _, c := range clients {
		var got struct{ ID int }
		c.Expect(t, "rooms.created").Decode(t, &got)
		is.Equal(got.ID, 7)
	}
	fenceAll(t, nodes[2], "/ws/chat", clients...)
	for _, c := range clients {
		is.Equal(c.Count("rooms.created"), 0) // exactly once
		is.Equal(c.Count("early"), 0)
	}
}

func TestAppDirectToUserReachesEverySessionInEveryNamespace(t *testing.T) {
	is := is.New(t)
	nodes := bootRouted(t, 3)
	chat0, _ := dial(t, nodes[0], "name=ann")
	chat1, _ := dial(t, nodes[1], "name=ann")
	dash1 := nodes[1].Dial(t, "/ws/dash?name=ann")
	dash1.Expect(t, "welcome")
	bob, _ := dial(t, nodes[2], "name=bob")
	bobDash := nodes[0].Dial(t, "/ws/dash?name=bob")
	bobDash.Expect(t, "welcome")
	ann := []*megatest.Client{chat0, chat1, dash1}
	all := append(slices.Clone(ann), bob, bobDash)
	natstest.WaitFor(t, megatest.Timeout, "every instance lists 2+2 members", func() bool {
		for _, n := range nodes {
			if len(n.App.List("/ws/chat")) != 3 || len(n.App.List("/ws/dash")) != 2 {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		fenceAll(t, n, "/ws/chat", chat0, chat1, bob)
		fenceAll(t, n, "/ws/dash", dash1, bobDash)
	}

	// From the app, on the instance where ann has no session.
	is.NoErr(nodes[2].App.DirectToUser("ann", mega.Push{Type: "notice", Payload: "hi"}))
	for _, c := range ann {
		is.Equal(string(c.Expect(t, "notice").Payload), `"hi"`)
	}
	// From a connection: bob whispers on /ws/chat; ann's /ws/dash tab gets it too.
	bob.Push(t, "whisper", map[string]string{"To": "ann", "Text": "psst"})
	for _, c := range ann {
		is.Equal(string(c.Expect(t, "whispered").Payload), `"psst"`)
	}
	for _, n := range nodes {
		fenceAll(t, n, "/ws/chat", chat0, chat1, bob)
		fenceAll(t, n, "/ws/dash", dash1, bobDash)
	}
	for _, c := range all {
		is.Equal(c.Count("notice"), 0) // once each, and never bob's
		is.Equal(c.Count("whispered"), 0)
	}
}

func TestAppListIsTheClusterRosterAndACopy(t *testing.T) {
	is := is.New(t)
	nodes := bootRouted(t, 2)
	ann, _ := dial(t, nodes[0], "name=ann&channel=lobby")
	dial(t, nodes[1], "name=bob")
	dial(t, nodes[1], "name=cid")
	natstest.WaitFor(t, megatest.Timeout, "both instances list 3 members", func() bool {
		return len(nodes[0].App.List("/ws/chat")) == 3 && len(nodes[1].App.List("/ws/chat")) == 3
	})
	ann.PushRef(t, "roster", nil, "r")
	var fromClient []mega.Member
	ann.Expect(t, "roster").Decode(t, &fromClient)
	for _, n := range nodes {
		list := n.App.List("/ws/chat")
		is.True(slices.IsSortedFunc(list, func(a, b mega.Member) int { return strings.Compare(a.SessionID, b.SessionID) }))
		is.Equal(ids(list), ids(fromClient)) // the app sees what the connection sees
	}
	is.Equal(nodes[0].App.List("/ws/nowhere"), []mega.Member(nil))

	// Callers that sort, append to and scribble on their lists, at once,
	// change nothing for anyone else (run under -race).
	want := nodes[0].App.List("/ws/chat")
	before, err := json.Marshal(want)
	is.NoErr(err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				l := nodes[0].App.List("/ws/chat")
				slices.SortFunc(l, func(a, b mega.Member) int { return strings.Compare(b.UserID, a.UserID) })
				l = append(l, mega.Member{SessionID: "fake"})
				l[0].UserID = "mallory"
				if len(l[1].Channels) > 0 {
					l[1].Channels[0] = "hijacked"
				}
				if len(l[1].Metadata) > 2 {
					l[1].Metadata[1] = 'X'
				}
			}
		}()
	}
	wg.Wait()
	after, err := json.Marshal(nodes[0].App.List("/ws/chat"))
	is.NoErr(err)
	is.Equal(string(after), string(before))
	var self mega.Member
	for _, m := range want {
		if m.UserID == "ann" {
			self = m
		}
	}
	is.Equal(self.Channels, []string{"lobby"})
	is.Equal(string(self.Metadata), `{"room":"lobby"}`)
}

func TestAppSendErrorsAreValues(t *testing.T) {
	app := mega.NewApp("test")
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth))
	tests := []struct {
		name string
		send func() error
		want error
	}{
		{"unknown namespace", func() error { return app.Broadcast("/ws/nope", mega.Broadcast{Type: "x"}) }, mega.ErrUnknownNamespace},
		{"broadcast without type", func() error { return app.Broadcast("/ws/chat", mega.Broadcast{}) }, mega.ErrInvalidMessage},
		{"payload that does not encode", func() error {
			return app.Broadcast("/ws/chat", mega.Broadcast{Type: "x", Payload: math.Inf(1)})
		}, mega.ErrInvalidMessage},
		{"raw payload that is not JSON", func() error {
			return app.Broadcast("/ws/chat", mega.Broadcast{Type: "x", Payload: json.RawMessage(`{oops`)})
		}, mega.ErrInvalidMessage},
		{"direct without user", func() error { return app.DirectToUser("", mega.Push{Type: "x"}) }, mega.ErrInvalidMessage},
		{"direct without type", func() error { return app.DirectToUser("ann", mega.Push{}) }, mega.ErrInvalidMessage},
		{"direct payload that does not encode", func() error {
			return app.DirectToUser("ann", mega.Push{Type: "x", Payload: make(chan int)})
		}, mega.ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.send()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
	is := is.New(t)
	is.NoErr(app.Broadcast("/ws/chat", mega.Broadcast{Type: "nobody.yet"}))
	is.NoErr(app.DirectToUser("ann", mega.Push{Type: "nobody.yet"}))
}

func ids(list []mega.Member) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = m.SessionID
	}
	return out
}
