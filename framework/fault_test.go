package mega_test

import (
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// rosterSize asks c for the roster and returns its size.
func rosterSize(t *testing.T, c *megatest.Client) int {
	t.Helper()
	c.PushRef(t, "roster", nil, "rs")
	var list []mega.Member
	c.Expect(t, "roster").Decode(t, &list)
	return len(list)
}

// TestNodeLossWhileChatting runs two instances on a 3-node NATS cluster,
// kills the node one of them is attached to, and checks that it fails over
// to another node, broadcasts resume and the roster stays the truth.
func TestNodeLossWhileChatting(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	is := is.New(t)
	nodes := natstest.StartCluster(t, 3)
	urls := []string{natstest.URL(nodes[0]), natstest.URL(nodes[1]), natstest.URL(nodes[2])}
	// Instance B knows every node, listing node 3 first (nats.go may start
	// anywhere in the list; the test kills whichever node B is on).
	insts := megatest.BootOn(t, []string{urls[0], urls[2] + "," + urls[1] + "," + urls[0]}, testApps, "")
	ann, _ := dial(t, insts[0], "name=ann")
	bob, _ := dial(t, insts[1], "name=bob")
	ann.ExpectPresence(t, "join")

	var victim int
	connected := insts[1].Instance.BusURL()
	for i, u := range urls {
		if strings.Contains(connected, strings.TrimPrefix(u, "nats://")) {
			victim = i
		}
	}
	if victim == 0 {
		t.Skip("instance B connected to node 1, which instance A also uses; nothing to fail over")
	}
	nodes[victim].Shutdown()
	nodes[victim].WaitForShutdown()

	took := testkit.WaitFor(t, 15*time.Second, "broadcast from A reaches B after failover", func() bool {
		ann.Push(t, "send", map[string]string{"text": "after"})
		_, err := bob.ExpectWithin("said", 300*time.Millisecond)
		return err == nil
	})
	t.Logf("broadcasts resumed %s after the node died", took)
	is.Equal(rosterSize(t, ann), 2)
	is.Equal(rosterSize(t, bob), 2)
	// No leave was emitted for members that never left.
	is.Equal(ann.PresenceChanges("leave"), 0)
}

// TestNATSRestartWhileChatting restarts the only NATS server under two
// instances: they reconnect, resync, and broadcasts and the roster recover.
func TestNATSRestartWhileChatting(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	is := is.New(t)
	srv := natstest.StartServer(t)
	insts := megatest.BootOn(t, []string{natstest.URL(srv), natstest.URL(srv)}, testApps, "")
	ann, _ := dial(t, insts[0], "name=ann")
	bob, _ := dial(t, insts[1], "name=bob")
	ann.ExpectPresence(t, "join")

	natstest.Restart(t, srv)
	took := testkit.WaitFor(t, 15*time.Second, "broadcasts cross again after the restart", func() bool {
		ann.Push(t, "send", map[string]string{"text": "after"})
		_, err := bob.ExpectWithin("said", 300*time.Millisecond)
		return err == nil
	})
	t.Logf("broadcasts resumed %s after the restart", took)
	// A member that joins after the restart is seen on the other instance.
	cid, wc := dial(t, insts[1], "name=cid")
	var joined mega.Member
	for joined.SessionID != wc.SessionID {
		joined = ann.ExpectPresence(t, "join")
	}
	is.Equal(rosterSize(t, ann), 3)
	is.Equal(rosterSize(t, cid), 3)
}
