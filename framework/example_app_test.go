package mega_test

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// A REST handler has no connection, but it has the app: after it stored a
// room it tells every connection of /ws/chat, on every instance, with one
// call. A namespace where no channel is mounted is an error, not a
// broadcast to nobody.
func ExampleApp_Broadcast() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/chat", exampleChannel{}, mega.WithAuth(exampleUser))
	app.Router().Post("/api/rooms", func(w http.ResponseWriter, r *http.Request) {
		room := map[string]any{"id": 1, "name": "kitchen"} // stored by now
		if err := app.Broadcast("/ws/chat", mega.Broadcast{Type: "rooms.created", Payload: map[string]any{"room": room}}); err != nil {
			app.Logger().Error().Err(err).Msg("live event not sent")
		}
		w.WriteHeader(http.StatusCreated)
	})
	srv := megatest.Start(t, app)
	ann := exampleDial(t, srv, "/ws/chat?name=ann&room=lobby")
	bob := exampleDial(t, srv, "/ws/chat?name=bob&room=garden")

	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"name": "kitchen"}`))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	fmt.Println("POST /api/rooms:", resp.Status)
	fmt.Printf("ann got rooms.created %s\n", ann.Expect(t, "rooms.created").Payload)
	fmt.Printf("bob got rooms.created %s\n", bob.Expect(t, "rooms.created").Payload)

	err = app.Broadcast("/ws/caht", mega.Broadcast{Type: "rooms.created"})
	fmt.Println("a typo:", errors.Is(err, mega.ErrUnknownNamespace))
	// Output:
	// POST /api/rooms: 201 Created
	// ann got rooms.created {"room":{"id":1,"name":"kitchen"}}
	// bob got rooms.created {"room":{"id":1,"name":"kitchen"}}
	// a typo: true
}

// DirectToUser from outside a connection, e.g. a job that finished an
// export: every session of ann gets it, in every namespace of the app (and
// on every instance); bob gets nothing. A user with no session is not an
// error.
func ExampleApp_DirectToUser() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/chat", exampleChannel{}, mega.WithAuth(exampleUser))
	app.Channel("/ws/alerts", exampleChannel{}, mega.WithAuth(exampleUser))
	srv := megatest.Start(t, app)
	annChat := exampleDial(t, srv, "/ws/chat?name=ann")
	annAlerts := exampleDial(t, srv, "/ws/alerts?name=ann")
	bob := exampleDial(t, srv, "/ws/chat?name=bob")

	if err := app.DirectToUser("ann", mega.Push{Type: "notice", Payload: "your export is ready"}); err != nil {
		t.Fatalf("DirectToUser: %v", err)
	}
	exampleFence(t, app, "/ws/chat", annChat, bob)
	exampleFence(t, app, "/ws/alerts", annAlerts)
	fmt.Println("ann on /ws/chat got", exampleReceived(t, annChat, "notice"))
	fmt.Println("ann on /ws/alerts got", exampleReceived(t, annAlerts, "notice"))
	fmt.Println("bob got", exampleReceived(t, bob, "notice"))

	fmt.Println("to nobody:", app.DirectToUser("nobody", mega.Push{Type: "notice", Payload: "hello?"}))
	// Output:
	// ann on /ws/chat got notice "your export is ready"
	// ann on /ws/alerts got notice "your export is ready"
	// bob got nothing
	// to nobody: <nil>
}

// List returns the members of a namespace, cluster-wide when the app runs
// in a cluster. The list is sorted by session id (random), and it is the
// caller's copy: sort it as you need. Here ann has two tabs.
func ExampleApp_List() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/chat", exampleChannel{}, mega.WithAuth(exampleUser))
	srv := megatest.Start(t, app)
	exampleDial(t, srv, "/ws/chat?name=bob&room=garden")
	exampleDial(t, srv, "/ws/chat?name=ann&room=kitchen")
	exampleDial(t, srv, "/ws/chat?name=ann&room=lobby")

	members := app.List("/ws/chat")
	slices.SortFunc(members, func(a, b mega.Member) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), strings.Compare(string(a.Metadata), string(b.Metadata)))
	})
	for _, m := range members {
		fmt.Println(m.UserID, m.Channels, string(m.Metadata))
	}
	fmt.Println("members of /ws/nowhere:", len(app.List("/ws/nowhere")))
	// Output:
	// ann [kitchen] {"room":"kitchen"}
	// ann [lobby] {"room":"lobby"}
	// bob [garden] {"room":"garden"}
	// members of /ws/nowhere: 0
}
