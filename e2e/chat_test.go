package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/natstest"
)

// cluster is two instances of the app sharing one NATS server and one
// database, and a browser.
type cluster struct {
	a, b    *instance
	browser *browser
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	requireBrowser(t) // skip before building anything
	nats := natstest.URL(natstest.StartJetStream(t, ""))
	db := database(t)
	return &cluster{
		a:       startInstance(t, "A", nats, db),
		b:       startInstance(t, "B", nats, db),
		browser: newBrowser(t),
	}
}

// join opens the chat page on inst as name, in the lobby, and waits until
// it is connected.
func (c *cluster) join(t *testing.T, inst *instance, name string) *tab {
	t.Helper()
	tb := c.browser.open(t, name+"@"+inst.name, inst.URL("/?name="+name))
	tb.waitStatus("connected")
	return tb
}

func TestChatAcrossInstances(t *testing.T) {
	c := startCluster(t)
	ann := c.join(t, c.a, "ann")
	bob := c.join(t, c.b, "bob")

	// Presence crosses instances: each sees the other (and itself).
	ann.waitFor("ann sees bob online", func(v view) bool { return v.shows("bob") && v.shows("ann") })
	bob.waitFor("bob sees ann online", func(v view) bool { return v.shows("ann") && v.shows("bob") })

	// A message reaches the other instance, and the sender sees it once.
	ann.say("hello from ann")
	bob.waitFor("bob gets ann's message", func(v view) bool { return v.count("hello from ann") == 1 })
	v := ann.waitFor("ann sees her own message", func(v view) bool { return v.count("hello from ann") >= 1 })
	is.New(t).Equal(v.count("hello from ann"), 1) // shown once, not echoed twice
	bob.say("hi ann")
	ann.waitFor("ann gets bob's reply", func(v view) bool { return v.count("hi ann") == 1 })

	// A whisper reaches only its addressee, across instances.
	bob.say("/w ann psst, over here")
	ann.waitFor("ann gets the whisper", func(v view) bool { return v.count("psst, over here") == 1 })

	// A second tab of ann, on the other instance: one user, two sessions,
	// listed once everywhere.
	ann2 := c.join(t, c.b, "ann")
	ann2.waitFor("ann's second tab lists ann once and bob", func(v view) bool {
		return v.shows("ann") && v.shows("bob") && len(v.Online) == 2
	})
	bob.waitFor("bob lists ann once, with two sessions", func(v view) bool {
		return v.shows("ann") && v.onlineEntries("ann")[0].Sessions == "2" && len(v.Online) == 2
	})
	ann2.close()
	bob.waitFor("ann still online with one session", func(v view) bool {
		return v.shows("ann") && v.onlineEntries("ann")[0].Sessions == "1"
	})

	// Closing a tab removes its user from everyone's list.
	bob.close()
	ann.waitFor("bob leaves ann's list", func(v view) bool { return !v.shows("bob") && v.shows("ann") && len(v.Online) == 1 })
}

func TestReconnectAfterServerRestart(t *testing.T) {
	c := startCluster(t)
	ann := c.join(t, c.a, "ann")
	bob := c.join(t, c.b, "bob")
	ann.waitFor("ann sees bob", func(v view) bool { return v.shows("bob") })
	bob.waitFor("bob sees ann", func(v view) bool { return v.shows("ann") })

	// SIGTERM instance A: it closes ann's socket with 1001 and tells the
	// cluster its members are gone.
	c.a.stop(t)
	v := ann.waitStatus("reconnecting")
	is := is.New(t)
	is.True(v.Banner != "") // the page says the connection is lost
	bob.waitFor("ann leaves bob's list at once", func(v view) bool { return !v.shows("ann") })

	// The same instance comes back on the same port; ann's page
	// reconnects by itself, and the chat works again in both directions.
	c.a.start(t)
	v = ann.waitStatus("connected")
	is.Equal(v.Banner, "") // the banner is gone
	ann.waitFor("ann sees bob again", func(v view) bool { return v.shows("bob") && v.shows("ann") })
	bob.waitFor("bob sees ann again", func(v view) bool { return v.shows("ann") })
	ann.say("back again")
	bob.waitFor("bob gets the message sent after the restart", func(v view) bool { return v.count("back again") == 1 })
	bob.say("welcome back")
	ann.waitFor("ann gets bob's reply", func(v view) bool { return v.count("welcome back") == 1 })
}

func TestRooms(t *testing.T) {
	c := startCluster(t)
	is := is.New(t)
	res, err := http.Post(c.a.URL("/api/rooms"), "application/json", strings.NewReader(`{"name":"design","topic":"Mockups"}`))
	is.NoErr(err)
	var room struct {
		ID json.Number `json:"id"`
	}
	is.NoErr(json.NewDecoder(res.Body).Decode(&room))
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusCreated)

	ann := c.join(t, c.a, "ann")
	bob := c.join(t, c.b, "bob")
	for _, tb := range []*tab{ann, bob} {
		tb.waitFor("the rooms from GET /api/rooms", func(v view) bool {
			return len(v.Rooms) == 2 && v.Rooms[0] == "lobby" && v.Rooms[1] == "design"
		})
	}
	ann.waitFor("ann sees bob in the lobby", func(v view) bool { return v.shows("bob") })

	// Choosing a room reconnects into it: the online list and the
	// messages are the room's.
	ann.do("choose the room design", chromedp.Click(chromedp.CSS(`[data-testid="rooms"] a[data-room="`+room.ID.String()+`"]`)))
	is.True(strings.Contains(ann.location(), "room="+room.ID.String())) // the URL names the room
	ann.waitStatus("connected")
	ann.waitFor("only ann in design", func(v view) bool { return v.shows("ann") && len(v.Online) == 1 })
	bob.waitFor("ann left bob's room", func(v view) bool { return !v.shows("ann") && v.shows("bob") })
	ann.say("design talk")
	bob.say("lobby talk")
	ann.waitFor("ann's message in design", func(v view) bool { return v.count("design talk") == 1 })
	bob.waitFor("bob's message in the lobby", func(v view) bool { return v.count("lobby talk") == 1 })

	bob.do("choose the room design", chromedp.Click(chromedp.CSS(`[data-testid="rooms"] a[data-room="`+room.ID.String()+`"]`)))
	bob.waitStatus("connected")
	bob.waitFor("bob sees ann in design", func(v view) bool { return v.shows("ann") && v.shows("bob") })
	ann.waitFor("ann sees bob in design", func(v view) bool { return v.shows("bob") })
	bob.say("joined design")
	v := ann.waitFor("ann gets bob's message in design", func(v view) bool { return v.count("joined design") == 1 })
	is.Equal(v.count("lobby talk"), 0) // a lobby message never reached design
	v = bob.waitFor("bob sees his own message", func(v view) bool { return v.count("joined design") == 1 })
	is.Equal(v.count("lobby talk"), 0) // messages are per room: the list was cleared
}

// rest sends a JSON request to the REST API and returns the status, and
// the room the answer holds (if any).
func rest(t *testing.T, method, url, body string) (int, apiRoom) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("e2e: %s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var room apiRoom
	if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusCreated {
		if err := json.NewDecoder(res.Body).Decode(&room); err != nil {
			t.Fatalf("e2e: %s %s: decode the room: %v", method, url, err)
		}
	}
	return res.StatusCode, room
}

// apiRoom is a room as the REST API shows it.
type apiRoom struct {
	ID   json.Number `json:"id"`
	Name string      `json:"name"`
}

// TestRoomsFollowTheAPI: the REST API is live. A room created, renamed and
// deleted over REST on instance A shows in tabs connected to instance B
// without a reload; a tab inside the deleted room says so and goes back to
// the lobby.
func TestRoomsFollowTheAPI(t *testing.T) {
	c := startCluster(t)
	is := is.New(t)
	ann := c.join(t, c.b, "ann")
	ann.waitFor("only the lobby", func(v view) bool { return len(v.Rooms) == 1 && v.Rooms[0] == "lobby" })
	ann.mark()

	// Created on A: ann's tab on B lists it.
	status, room := rest(t, http.MethodPost, c.a.URL("/api/rooms"), `{"name":"design","topic":"Mockups"}`)
	is.Equal(status, http.StatusCreated)
	v := ann.waitFor("design appears in ann's list", func(v view) bool {
		return len(v.Rooms) == 2 && v.Rooms[1] == "design"
	})
	is.True(v.Marked) // without a reload

	// bob is in the room, on B too.
	bob := c.browser.open(t, "bob@B", c.b.URL("/?name=bob&room="+room.ID.String()))
	bob.waitStatus("connected")
	bob.waitFor("bob is in design", func(v view) bool { return v.Title == "design" && len(v.Rooms) == 2 })
	bob.mark()

	// Renamed on A: both lists, and bob's heading, follow.
	status, _ = rest(t, http.MethodPut, c.a.URL("/api/rooms/"+room.ID.String()), `{"name":"design-review","topic":"Mockups"}`)
	is.Equal(status, http.StatusOK)
	ann.waitFor("the new name in ann's list", func(v view) bool {
		return len(v.Rooms) == 2 && v.Rooms[1] == "design-review"
	})
	bob.waitFor("the new name in bob's list and heading", func(v view) bool {
		return len(v.Rooms) == 2 && v.Rooms[1] == "design-review" && v.Title == "design-review"
	})

	// A refused request changes nothing; then a second room comes and goes.
	status, _ = rest(t, http.MethodPost, c.a.URL("/api/rooms"), `{"topic":"no name"}`)
	is.Equal(status, http.StatusUnprocessableEntity)
	status, ops := rest(t, http.MethodPost, c.a.URL("/api/rooms"), `{"name":"ops","topic":""}`)
	is.Equal(status, http.StatusCreated)
	ann.waitFor("ops appears after design-review, once", func(v view) bool {
		return len(v.Rooms) == 3 && v.Rooms[1] == "design-review" && v.Rooms[2] == "ops"
	})
	status, _ = rest(t, http.MethodDelete, c.a.URL("/api/rooms/"+ops.ID.String()), "")
	is.Equal(status, http.StatusNoContent)
	ann.waitFor("ops disappears from ann's list", func(v view) bool { return len(v.Rooms) == 2 })

	// Deleted on A: it disappears everywhere; bob, who was in it, is told
	// and is back in the lobby.
	status, _ = rest(t, http.MethodDelete, c.a.URL("/api/rooms/"+room.ID.String()), "")
	is.Equal(status, http.StatusNoContent)
	v = ann.waitFor("design-review disappears from ann's list", func(v view) bool {
		return len(v.Rooms) == 1 && v.Rooms[0] == "lobby"
	})
	is.True(v.Marked) // still the page loaded at the start
	v = bob.waitFor("bob is told and back in the lobby", func(v view) bool {
		return len(v.Rooms) == 1 && v.Title == "lobby" && strings.Contains(v.Notice, "design-review") && strings.Contains(v.Notice, "deleted")
	})
	is.True(v.Marked)
	is.True(strings.Contains(bob.location(), "room=lobby")) // the URL follows
	bob.waitStatus("connected")
	bob.waitFor("bob sees ann in the lobby", func(v view) bool { return v.shows("ann") && v.shows("bob") })
}
