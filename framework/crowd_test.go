package mega_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// crowdApps is the chat channel with presence frames, batched by default.
var crowdApps = mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceEvents())
	return app, nil
}}

// observer follows the roster the way a browser does: it applies the
// presence changes it receives, in order, to the members it knows.
type observer struct {
	c       *megatest.Client
	members map[string]bool
}

func (o *observer) apply() {
	for _, ch := range o.c.TakePresence() {
		if ch.Op == "leave" {
			delete(o.members, ch.Member.SessionID)
		} else {
			o.members[ch.Member.SessionID] = true
		}
	}
}

func (o *observer) frames() int {
	return o.c.Count("presence.join") + o.c.Count("presence.leave") + o.c.Count("presence.update") + o.c.Count("presence.diff")
}

// TestPresenceCrowd: n clients join one room at once, across two instances.
// Nobody is cut as slow, both observers converge to the exact roster, and
// each observer gets a few frames per batch interval instead of one per join.
func TestPresenceCrowd(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections")
	}
	is := is.New(t)
	n := 2000
	if raceEnabled {
		n = 600
	}
	nodes := megatest.BootCluster(t, 2, crowdApps, "websocket: { maxConnectionsPerIP: -1, maxConnectionsPerUser: -1 }")
	var obs []*observer
	for i, node := range nodes {
		var w welcome
		c := node.Dial(t, fmt.Sprintf("/ws/chat?name=observer%d", i))
		c.Expect(t, "welcome").Decode(t, &w)
		obs = append(obs, &observer{c: c, members: map[string]bool{w.SessionID: true}})
	}
	// Each observer knows the other before the crowd comes: the first one
	// from the second's join, the second from its welcome's roster (the
	// test channel's welcome has none: its instance's List stands in).
	obs[0].members[obs[0].c.ExpectPresence(t, "join").SessionID] = true
	natstest.WaitFor(t, megatest.Timeout, "instance 1 lists both observers", func() bool {
		return len(nodes[1].App.List("/ws/chat")) == 2
	})
	for _, m := range nodes[1].App.List("/ws/chat") {
		obs[1].members[m.SessionID] = true
	}
	before := []int{obs[0].frames(), obs[1].frames()}

	half := make([][]*stormClient, 2)
	done := make(chan time.Duration, 2)
	began := time.Now()
	for i, node := range nodes {
		go func() {
			var took time.Duration
			half[i], took = connectAll(t, "ws"+strings.TrimPrefix(node.URL, "http"), n/2)
			done <- took
		}()
	}
	<-done
	<-done
	connected := time.Since(began)

	want := n + 2
	if _, ok := testkit.PollEvery(30*time.Second, 20*time.Millisecond, func() bool {
		ok := true
		for _, o := range obs {
			o.apply()
			ok = ok && len(o.members) == want
		}
		return ok
	}); !ok {
		codes := map[websocket.StatusCode]int{}
		for _, h := range half {
			for _, c := range h {
				select {
				case code := <-c.closed:
					codes[code]++
				default:
				}
			}
		}
		t.Logf("closed clients by code: %v", codes)
		t.Fatalf("after 30s the observers see %d and %d of %d members (instances list %d and %d); frames %d and %d",
			len(obs[0].members), len(obs[1].members), want, len(nodes[0].App.List("/ws/chat")), len(nodes[1].App.List("/ws/chat")), obs[0].frames(), obs[1].frames())
	}
	converged := time.Since(began)
	for i, o := range obs {
		var listed []string
		for _, m := range nodes[i].App.List("/ws/chat") {
			listed = append(listed, m.SessionID)
		}
		var seen []string
		for id := range o.members {
			seen = append(seen, id)
		}
		slices.Sort(seen)
		is.Equal(seen, listed) // exactly the roster, no member missing or extra
	}
	for _, h := range half {
		for _, c := range h {
			select {
			case code := <-c.closed:
				t.Fatalf("a client was closed during the crowd: %v", code)
			default:
			}
		}
	}
	frames := []int{obs[0].frames() - before[0], obs[1].frames() - before[1]}
	t.Logf("%d clients joined in %s, observers converged after %s; presence frames per observer: %v (instead of %d each); test process RSS %s",
		n, connected.Round(time.Millisecond), converged.Round(time.Millisecond), frames, n, rss())
	for _, f := range frames {
		is.True(f <= n/5) // a few hundred at most, not one per join
	}
	for _, h := range half {
		for _, c := range h {
			c.ws.Close(websocket.StatusNormalClosure, "")
			<-c.closed
		}
	}
}

// rss returns this process's resident set size as /proc reports it.
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// TestPresenceCountAcrossInstances: a count-only channel sends
// presence.count with the cluster-wide member count instead of members.
func TestPresenceCountAcrossInstances(t *testing.T) {
	is := is.New(t)
	counted := mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceCount(20*time.Millisecond))
		return app, nil
	}}
	nodes := megatest.BootCluster(t, 2, counted, "")
	watcher, _ := dial(t, nodes[0], "name=watcher")
	for i := range 5 {
		dial(t, nodes[1], fmt.Sprintf("name=u%d", i))
	}
	natstest.WaitFor(t, megatest.Timeout, "a presence.count of 6 on instance 0", func() bool {
		return watcher.PresenceCount() == 6 // the watcher and 5 members of the other instance
	})
	is.Equal(watcher.Count("presence.join"), 0) // counts, not members
	is.Equal(watcher.Count("presence.diff"), 0)
}
