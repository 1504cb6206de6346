package mainapp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/matryer/is"
	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"

	mainapp "crud/apps/main"
)

// TestChatAcrossInstances boots two instances of the app on one NATS
// server, as two processes with one NATS_URL would run, and checks that
// chat, whispers and presence cross between them.
func TestChatAcrossInstances(t *testing.T) {
	is := is.New(t)
	servers := megatest.BootCluster(t, 2, mega.Apps{"main": mainapp.New}, testConfig(t))
	one, two := servers[0], servers[1]

	ann, wa := joinChat(t, one, "ann", "")
	bob, wb := joinChat(t, two, "bob", "")

	// presence.join crosses instances.
	joined := ann.ExpectPresence(t, "join")
	is.Equal(joined.SessionID, wb.SessionID)
	is.Equal(string(joined.Metadata), `{"name":"bob","room":"lobby"}`)

	// The roster is cluster-wide.
	bob.PushRef(t, "roster.get", nil, "r")
	var roster struct {
		Members []member `json:"members"`
	}
	bob.Expect(t, "roster").Decode(t, &roster)
	_, ok := findMember(roster.Members, wa.SessionID)
	is.True(ok) // bob's instance lists ann

	// chat.send reaches the room on both instances, exactly once each.
	cid, _ := joinChat(t, two, "cid", "kitchen")
	ann.ExpectPresence(t, "join") // cid
	ann.Push(t, "chat.send", map[string]string{"text": "hello from one"})
	for _, c := range []*megatest.Client{ann, bob} {
		var got chatMessage
		c.Expect(t, "chat.message").Decode(t, &got)
		is.Equal(got.Text, "hello from one")
		is.Equal(got.From.UserID, "ann")
	}
	bob.Push(t, "chat.send", map[string]string{"text": "hello from two"})
	for _, c := range []*megatest.Client{ann, bob} {
		var got chatMessage
		c.Expect(t, "chat.message").Decode(t, &got)
		is.Equal(got.Text, "hello from two")
	}
	ann.ExpectNone(t, "chat.message", quiet)
	bob.ExpectNone(t, "chat.message", quiet)
	cid.ExpectNone(t, "chat.message", quiet) // another room

	// chat.whisper reaches every session of the user, on either instance.
	ann2, _ := joinChat(t, two, "ann", "kitchen")
	bob.ExpectPresence(t, "join") // ann's second session, local to bob
	ann.ExpectPresence(t, "join") // and remote to ann's first
	cid.Push(t, "chat.whisper", map[string]string{"to": "ann", "text": "psst"})
	for _, c := range []*megatest.Client{ann, ann2} {
		var got whisper
		c.Expect(t, "chat.whisper").Decode(t, &got)
		is.Equal(got.Text, "psst")
		is.Equal(got.From.UserID, "cid")
	}
	bob.ExpectNone(t, "chat.whisper", quiet)

	// presence.leave crosses instances.
	bob.Close()
	left := ann.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, wb.SessionID)
	left = cid.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, wb.SessionID) // bob, local to cid
	ann.Close()
	left = cid.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, wa.SessionID)
}

// TestRoomsAcrossInstances checks that the REST API is live across
// instances: a room created, renamed or deleted over REST on one instance
// reaches the clients of both, exactly once each, and a refused request
// reaches nobody.
func TestRoomsAcrossInstances(t *testing.T) {
	is := is.New(t)
	servers := megatest.BootCluster(t, 2, mega.Apps{"main": mainapp.New}, testConfig(t))
	one, two := servers[0], servers[1]
	ann, _ := joinChat(t, one, "ann", "")
	bob, _ := joinChat(t, two, "bob", "kitchen") // rooms events reach every room
	clients := []*megatest.Client{ann, bob}

	// expect checks that both clients' next frame of type typ has exactly
	// the payload want, and that no other rooms event is buffered: events
	// of one instance reach each client in the order they were sent, so a
	// second copy, or one for a refused request, would be buffered first.
	expect := func(typ string, want any) {
		t.Helper()
		for _, c := range clients {
			f := c.Expect(t, typ)
			switch want := want.(type) {
			case mainapp.Room:
				var got map[string]mainapp.Room
				f.Decode(t, &got)
				is.Equal(got, map[string]mainapp.Room{"room": want}) // the REST body
			case int64:
				var got map[string]int64
				f.Decode(t, &got)
				is.Equal(got, map[string]int64{"id": want})
			default:
				t.Fatalf("expect(%q, %T): want a Room or an id", typ, want)
			}
			for _, other := range []string{"rooms.created", "rooms.updated", "rooms.deleted"} {
				is.Equal(c.Count(other), 0) // exactly once
			}
		}
	}

	// Created on one: ann has it from her instance, bob over NATS.
	var room mainapp.Room
	status, _ := apiCall(t, http.MethodPost, one.URL+"/api/rooms", `{"name": "design", "topic": "mockups"}`, &room)
	is.Equal(status, http.StatusCreated)
	expect("rooms.created", room)

	// Refused on one: nothing is sent, so the rename is the next event.
	status, _ = apiCall(t, http.MethodPost, one.URL+"/api/rooms", `{"topic": "no name"}`, nil)
	is.Equal(status, http.StatusUnprocessableEntity)
	status, _ = apiCall(t, http.MethodPut, one.URL+"/api/rooms/999999", `{"name": "ghost"}`, nil)
	is.Equal(status, http.StatusNotFound)
	var renamed mainapp.Room
	status, _ = apiCall(t, http.MethodPut, fmt.Sprintf("%s/api/rooms/%d", one.URL, room.ID), `{"name": "design-review", "topic": "mockups"}`, &renamed)
	is.Equal(status, http.StatusOK)
	expect("rooms.updated", renamed)

	// Deleted on two, which shares the database: now ann hears over NATS.
	status, _ = apiCall(t, http.MethodDelete, fmt.Sprintf("%s/api/rooms/%d", two.URL, room.ID), "", nil)
	is.Equal(status, http.StatusNoContent)
	expect("rooms.deleted", room.ID)

	// No late copy of any of them (an instance's own echo from NATS).
	for _, c := range clients {
		c.ExpectNone(t, "rooms.deleted", quiet)
		is.Equal(c.Count("rooms.created")+c.Count("rooms.updated"), 0)
	}
}

// position is where a chat.message sits in its room's history.
type position struct {
	Channel string `json:"channel"`
	Epoch   string `json:"epoch"`
	Offset  uint64 `json:"offset"`
}

// positionOf reads the history position a frame carries next to its
// payload.
func positionOf(t *testing.T, f megatest.Frame) position {
	t.Helper()
	var p position
	if err := json.Unmarshal(f.Raw, &p); err != nil {
		t.Fatalf("decode %s: %v", f.Raw, err)
	}
	return p
}

// TestChatHistoryAcrossInstances checks the room history: chat.message
// frames carry the room's position, the same on both instances; a page
// opened later reads the recent messages with history.get; a client that
// was away recovers what it missed with history.recover.
func TestChatHistoryAcrossInstances(t *testing.T) {
	is := is.New(t)
	servers := megatest.BootCluster(t, 2, mega.Apps{"main": mainapp.New}, testConfig(t))
	one, two := servers[0], servers[1]
	ann, _ := joinChat(t, one, "ann", "kitchen")
	bob, _ := joinChat(t, two, "bob", "kitchen")

	var last position
	for i := range 3 {
		ann.Push(t, "chat.send", map[string]string{"text": fmt.Sprint("dish ", i)})
		a, b := positionOf(t, ann.Expect(t, "chat.message")), positionOf(t, bob.Expect(t, "chat.message"))
		is.Equal(a, b) // one position on both instances
		is.Equal(a.Channel, "kitchen")
		is.True(a.Offset > last.Offset) // growing with every message
		last = a
	}

	// A page opened later shows the room's recent messages, oldest first.
	cid, _ := joinChat(t, two, "cid", "kitchen")
	cid.PushRef(t, "history.get", map[string]any{"channel": "kitchen", "limit": 2}, "h")
	var page struct {
		Epoch    string            `json:"epoch"`
		Offset   uint64            `json:"offset"`
		Messages []json.RawMessage `json:"messages"`
	}
	cid.Expect(t, "history").Decode(t, &page)
	is.Equal(len(page.Messages), 2)
	var first struct {
		Payload chatMessage `json:"payload"`
	}
	is.NoErr(json.Unmarshal(page.Messages[0], &first))
	is.Equal(first.Payload.Text, "dish 1")
	is.Equal(page.Offset, last.Offset)

	// Bob goes away; ann says two more things; bob comes back and recovers.
	bob.Close()
	for i := 3; i < 5; i++ {
		ann.Push(t, "chat.send", map[string]string{"text": fmt.Sprint("dish ", i)})
		ann.Expect(t, "chat.message")
	}
	bob, _ = joinChat(t, two, "bob", "kitchen")
	bob.PushRef(t, "history.recover", map[string]any{"channel": "kitchen", "epoch": last.Epoch, "offset": last.Offset}, "r")
	for i := 3; i < 5; i++ {
		var got chatMessage
		bob.Expect(t, "chat.message").Decode(t, &got)
		is.Equal(got.Text, fmt.Sprint("dish ", i)) // the missed ones, in order
	}
	var rec struct {
		Recovered bool `json:"recovered"`
	}
	bob.Expect(t, "history.recovered").Decode(t, &rec)
	is.True(rec.Recovered)
}
