package e2e_test

// The chat's history in a browser (docs/history.md): what a new tab shows
// and what a tab recovers after its server restarted under it.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// inOrder reports whether the messages contain texts in this order.
func inOrder(v view, texts ...string) bool {
	i := 0
	for _, m := range v.Messages {
		if i < len(texts) && strings.Contains(m, texts[i]) {
			i++
		}
	}
	return i == len(texts)
}

// A newly opened tab shows the room's recent messages; a tab whose server
// restarts under it shows every message sent during the outage, once, in order.
func TestHistoryOnLoadAndRecoveryAfterRestart(t *testing.T) {
	c := startCluster(t)
	ann := c.join(t, c.a, "ann")
	for i := 1; i <= 3; i++ {
		ann.say(fmt.Sprintf("early %d", i))
	}
	ann.waitFor("ann sees her 3", func(v view) bool { return v.count("early 3") == 1 })
	bob := c.join(t, c.b, "bob")
	bob.waitFor("bob sees the history once, in order", func(v view) bool {
		return v.count("early 1") == 1 && v.count("early 2") == 1 && v.count("early 3") == 1 && inOrder(v, "early 1", "early 2", "early 3")
	})
	ann.waitFor("ann sees bob", func(v view) bool { return v.shows("bob") })

	c.a.stop(t)
	ann.waitStatus("reconnecting")
	var sent []string
	for i := 1; i <= 8; i++ {
		s := fmt.Sprintf("away %d", i)
		bob.say(s)
		sent = append(sent, s)
	}
	bob.waitFor("bob sees his", func(v view) bool { return v.count("away 8") == 1 })
	c.a.start(t)
	ann.waitStatus("connected")
	bob.say("after")
	ann.waitFor("ann sees every away message once, in order", func(v view) bool {
		for _, s := range sent {
			if v.count(s) != 1 {
				return false
			}
		}
		return v.count("after") == 1 && inOrder(v, append(append([]string{"early 1", "early 3"}, sent...), "after")...)
	})
	cy := c.join(t, c.a, "cy")
	cy.waitFor("cy sees it all once", func(v view) bool {
		return v.count("early 1") == 1 && v.count("away 8") == 1 && v.count("after") == 1 && len(v.Messages) == 12
	})
}

// Switching rooms shows each room's own history; a recovery never brings
// another room's messages.
func TestHistoryRoomSwitch(t *testing.T) {
	c := startCluster(t)
	_, room := rest(t, "POST", c.a.URL("/api/rooms"), `{"name":"design","topic":""}`)
	click := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
	ann := c.join(t, c.a, "ann")
	ann.say("lobby one")
	ann.waitFor("lobby one", func(v view) bool { return v.count("lobby one") == 1 })
	ann.do("choose design", click(`[data-testid="rooms"] a[data-room="`+room.ID.String()+`"]`))
	ann.waitStatus("connected")
	ann.waitFor("design is empty", func(v view) bool { return len(v.Messages) == 0 })
	ann.say("design one")
	ann.waitFor("design one", func(v view) bool { return v.count("design one") == 1 && len(v.Messages) == 1 })
	ann.do("choose lobby", click(`[data-testid="rooms"] a[data-room="lobby"]`))
	ann.waitStatus("connected")
	ann.waitFor("lobby history back", func(v view) bool { return v.count("lobby one") == 1 && len(v.Messages) == 1 })
	bob := c.join(t, c.b, "bob")
	bob.waitFor("bob lobby", func(v view) bool { return v.count("lobby one") == 1 && len(v.Messages) == 1 })
	c.b.stop(t)
	ann.say("while bob away")
	c.b.start(t)
	bob.waitStatus("connected")
	v := bob.waitFor("bob recovered", func(v view) bool { return v.count("while bob away") == 1 && len(v.Messages) == 2 })
	if v.count("design one") != 0 {
		t.Fatal("a design message reached the lobby")
	}
}
