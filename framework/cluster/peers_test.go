package cluster_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/natstest"
)

// peersEqual waits until n's Peers are exactly want (sorted).
func peersEqual(t *testing.T, n *node, want ...string) {
	t.Helper()
	slices.Sort(want)
	natstest.WaitFor(t, wait, n.name+" to hear from exactly "+fmtIDs(want), func() bool {
		return slices.Equal(n.cl.Peers(), want)
	})
}

func fmtIDs(ids []string) string {
	if len(ids) == 0 {
		return "nobody"
	}
	return "[" + strings.Join(ids, " ") + "]"
}

func TestPeersFollowTheRoster(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	const ttl = 600 * time.Millisecond
	servers := natstest.StartCluster(t, 3)
	nodes := startNodes(t, cluster.Options{TTL: ttl}, urls(servers)...)
	id := func(i int) string { return nodes[i].cl.InstanceID() }
	peersEqual(t, nodes[0], id(1), id(2))
	peersEqual(t, nodes[1], id(0), id(2))
	peersEqual(t, nodes[2], id(0), id(1))
	is.Equal(nodes[0].cl.Stats().Peers, 2)

	// The caller owns the slice.
	p := nodes[0].cl.Peers()
	p[0] = "scribbled"
	is.True(!slices.Contains(nodes[0].cl.Peers(), "scribbled"))

	// Readers run concurrently with the reader goroutine's changes (-race
	// checks it): a crash (no bye) is dropped after TTL, a stop at once.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					for _, n := range nodes {
						_ = n.cl.Peers()
					}
				}
			}
		}()
	}
	crashed := time.Now()
	nodes[1].nc.Close() // no Stop: no bye
	// Until TTL the crashed instance is still a peer: that is what lets
	// `mega inspect` report it as missing.
	is.True(slices.Contains(nodes[0].cl.Peers(), id(1)))
	peersEqual(t, nodes[0], id(2))
	peersEqual(t, nodes[2], id(0))
	t.Logf("TTL %s: crashed peer gone from Peers after %s", ttl, time.Since(crashed))

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	is.NoErr(nodes[2].cl.Stop(ctx))
	// The bye removes it at once, well before TTL.
	natstest.WaitFor(t, ttl/2, "n0 to forget the stopped n2", func() bool { return len(nodes[0].cl.Peers()) == 0 })
	// A stopped Cluster hears nobody.
	is.Equal(nodes[2].cl.Peers(), []string(nil))
	close(stop)
	wg.Wait()
}

func TestPeersEmptyWithoutRoster(t *testing.T) {
	leakCheck(t)
	is := is.New(t)
	srv := natstest.StartServer(t)
	nodes := startNodes(t, cluster.Options{Roster: cluster.RosterNone}, natstest.URL(srv), natstest.URL(srv))
	nodes[0].attach(t, ns, "a", "s-a")
	is.Equal(nodes[0].cl.Peers(), []string(nil))
	is.Equal(nodes[1].cl.Peers(), []string(nil))
}
