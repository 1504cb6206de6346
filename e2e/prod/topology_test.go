//go:build unix

package prod_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"

	"github.com/megaframework/mega/internal/testkit"
)

// The fleet and the app's config (testdata/prodapp/mega.yaml).
const (
	numApps         = 3
	clientsPerApp   = 12
	rosterTTL       = 2 * time.Second // wsCluster.roster.ttl
	drainDelay      = 1 * time.Second // server.drainDelay
	reconnectWindow = 2 * time.Second // server.reconnectWindow
	distinctTries   = 8               // launches of an app to land on a node of its own
)

// Deadlines of the steps.
const (
	failoverTimeout = 15 * time.Second                              // failover, /readyz, chat, roster after the node dies
	convergeTimeout = rosterTTL + 3*time.Second                     // roster views equal the live clients
	reconnectWithin = drainDelay + reconnectWindow + 10*time.Second // every client of a restarted app is back
	probeEvery      = 50 * time.Millisecond                         // between two chat probes of one client (mind the rate limit)
	noDoubleWait    = 300 * time.Millisecond                        // a second copy would have arrived by now
	convergePoll    = 50 * time.Millisecond                         // between two roster rounds (each client asks: mind the rate limit)
)

// TestProductionTopology runs the app the way production does, as three
// processes on a three-node NATS cluster of nats-server processes, kills
// the NATS node under one app, then restarts every app one by one under
// connected clients. See the package documentation.
func TestProductionTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("prod: builds nats-server and an app and runs six processes (about 15 s once built); skipped with -short")
	}
	started := time.Now()
	build(t)
	t.Logf("binaries ready in %s", bins.took.Round(time.Millisecond))

	nodes := startNATSCluster(t)
	t.Logf("NATS cluster of %d routed nats-server processes formed", len(nodes))
	apps := startApps(t, nodes)

	f := &fleet{t: t, nodes: nodes, apps: apps, byApp: make([][]*client, len(apps))}
	for i, a := range apps {
		for k := range clientsPerApp {
			f.byApp[i] = append(f.byApp[i], connect(t, fmt.Sprintf("u%d-%d", i+1, k+1), a.wsURL("/ws/chat")))
		}
	}
	took := f.waitConverged("the roster of every client and instance to hold all clients")
	t.Logf("%d clients connected (%d per app); every roster held all of them after %s", len(f.all()), clientsPerApp, took.Round(time.Millisecond))

	f.nodeFailover()
	f.rollingRestart()
	t.Logf("whole test: %s", time.Since(started).Round(time.Millisecond))
}

// startApps starts the app instances, each listing every node with a
// different one first. nats.go picks a random server of the list, so an
// instance that lands on a node another one already uses is replaced
// (up to distinctTries launches) until each is on a node of its own.
func startApps(t *testing.T, nodes []*natsNode) []*appProc {
	t.Helper()
	var ports []int
	for _, n := range nodes {
		ports = append(ports, n.client, n.route, n.monitor)
	}
	apps := make([]*appProc, numApps)
	used := map[int]bool{}
	extra := 0
	for i := range apps {
		a := newApp(t, fmt.Sprintf("app%d", i+1), nodes, i%len(nodes), ports)
		ports = append(ports, a.port)
		for try := 1; ; try++ {
			node := a.launch(t, nodes)
			if !used[node] || try == distinctTries {
				used[node] = true
				t.Logf("%s on port %d: NATS connection %q on node %s (NATS_URL=%s)", a.name, a.port, a.conn, nodes[node].name, a.natsURL)
				break
			}
			// No clients yet: a kill costs nothing (the others never saw a
			// member of it).
			a.proc.killGroup()
			extra++
		}
		apps[i] = a
	}
	if extra > 0 {
		t.Logf("%d extra launches to put the apps on distinct nodes", extra)
	}
	return apps
}

// fleet is the running system: NATS nodes, app instances and their
// clients.
type fleet struct {
	t     *testing.T
	nodes []*natsNode
	apps  []*appProc
	byApp [][]*client // the clients of each app
}

// all returns every client.
func (f *fleet) all() []*client {
	var out []*client
	for _, cs := range f.byApp {
		out = append(out, cs...)
	}
	return out
}

// converged reports whether every instance is ready and every client's
// roster (its own view from presence frames, and the roster its instance
// answers) is exactly the set of live sessions; when not, it says why.
func (f *fleet) converged() (bool, string) {
	var live []string
	for _, c := range f.all() {
		s := c.session()
		if s == "" {
			return false, c.name + " is not connected"
		}
		live = append(live, s)
	}
	slices.Sort(live)
	for _, c := range f.all() {
		if v := c.viewSessions(); !slices.Equal(v, live) {
			return false, fmt.Sprintf("%s's presence view has %d sessions, want the %d live ones", c.name, len(v), len(live))
		}
	}
	for _, a := range f.apps {
		if s := status(a.url("/readyz")); s != http.StatusOK {
			return false, fmt.Sprintf("%s /readyz answers %d", a.name, s)
		}
	}
	for _, c := range f.all() {
		list, err := c.roster()
		if err != nil {
			return false, c.name + ": roster: " + err.Error()
		}
		got := make([]string, 0, len(list))
		for _, m := range list {
			got = append(got, m.SessionID)
		}
		slices.Sort(got)
		if !slices.Equal(got, live) {
			return false, fmt.Sprintf("the roster %s's instance answers has %d sessions, want the %d live ones", c.name, len(got), len(live))
		}
	}
	return true, ""
}

// waitConverged waits until converged holds and returns how long that
// took.
func (f *fleet) waitConverged(what string) time.Duration {
	f.t.Helper()
	var why string
	took, ok := testkit.PollEvery(convergeTimeout, convergePoll, func() bool {
		var done bool
		done, why = f.converged()
		return done
	})
	if !ok {
		f.t.Fatalf("prod: timed out after %s waiting for %s: %s", convergeTimeout, what, why)
	}
	return took
}

// delivered reports whether every client got every one of texts.
func (f *fleet) delivered(texts []string) bool {
	for _, c := range f.all() {
		for _, text := range texts {
			if c.got(text) == 0 {
				return false
			}
		}
	}
	return true
}

// chatResumes has one client of every app say a new message every
// probeEvery, from the moment of the fault, until one such round reaches
// every client. It returns when that round was seen complete (since
// since) and how many earlier rounds never did: messages published while
// an instance had no NATS connection are lost (core NATS is at most once).
func (f *fleet) chatResumes(since time.Time, timeout time.Duration) (took time.Duration, lost int, ok bool) {
	var rounds [][]string
	next := time.Now()
	_, ok = testkit.Poll(timeout-time.Since(since), func() bool {
		if !time.Now().Before(next) {
			var texts []string
			for i, cs := range f.byApp {
				text := fmt.Sprintf("probe-%d-from-app%d", len(rounds)+1, i+1)
				if cs[0].say(text) == nil {
					texts = append(texts, text)
				}
			}
			if len(texts) == len(f.byApp) {
				rounds = append(rounds, texts)
			}
			next = next.Add(probeEvery)
		}
		for k, texts := range rounds {
			if f.delivered(texts) {
				took = time.Since(since)
				for _, earlier := range rounds[:k] {
					if !f.delivered(earlier) {
						lost++
					}
				}
				return true
			}
		}
		return false
	})
	if !ok {
		return time.Since(since), 0, false
	}
	return took, lost, true
}

// leaves returns the presence leaves all clients were told of.
func (f *fleet) leaves() int {
	n := 0
	for _, c := range f.all() {
		n += c.presenceLeaves()
	}
	return n
}

// readySampler polls an instance's /readyz every few milliseconds and
// records when it first failed and when it answered 200 again.
type readySampler struct {
	mu            sync.Mutex
	down, upAgain time.Time
	stop          chan struct{}
	done          chan struct{}
}

func sampleReady(a *appProc) *readySampler {
	s := &readySampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ok := status(a.url("/readyz")) == http.StatusOK
			now := time.Now()
			s.mu.Lock()
			switch {
			case !ok && s.down.IsZero():
				s.down = now
			case ok && !s.down.IsZero() && s.upAgain.IsZero():
				s.upAgain = now
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// result returns when /readyz first failed and when it recovered (zero
// times when not seen).
func (s *readySampler) result() (down, up time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down, s.upAgain
}

func (s *readySampler) close() {
	close(s.stop)
	<-s.done
}

// step is one measured condition after a fault.
type step struct {
	what string
	took time.Duration
	ok   bool
	note string
}

// nodeFailover kills the NATS node under the first app with SIGKILL and
// measures, from the kill: the app's connection on another node, its
// /readyz back at 200, chat crossing between every pair of apps again,
// and every roster still exactly the live clients. No presence leave may
// be emitted (nobody left), and a join after the failover must reach
// everyone.
func (f *fleet) nodeFailover() {
	t := f.t
	is := is.New(t)
	a := f.apps[0]
	victim := a.nodeOf(f.nodes)
	is.True(victim >= 0) // the first app's node is known
	var moving []*appProc
	for _, b := range f.apps {
		if b.nodeOf(f.nodes) == victim {
			moving = append(moving, b)
		}
	}
	leavesBefore := f.leaves()
	sampler := sampleReady(a)
	defer sampler.close()
	// Let the sampler see the instance ready before the kill.
	testkit.WaitFor(t, 2*time.Second, "the /readyz sampler to start", func() bool {
		return status(a.url("/readyz")) == http.StatusOK
	})

	killed := time.Now()
	is.NoErr(syscall.Kill(f.nodes[victim].proc.cmd.Process.Pid, syscall.SIGKILL))
	f.nodes[victim].proc.waitExit(t)
	t.Logf("failover: SIGKILL to NATS node %s, under %d app(s); it stays down for the rest of the test", f.nodes[victim].name, len(moving))

	steps := make([]step, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		where := map[string]string{}
		took, ok := testkit.Poll(failoverTimeout, func() bool {
			for _, b := range moving {
				n := b.nodeOf(f.nodes)
				if n < 0 {
					return false
				}
				where[b.name] = f.nodes[n].name
			}
			return true
		})
		steps[0] = step{what: "NATS connection on a surviving node (/connz)", took: took, ok: ok, note: fmt.Sprint(where)}
	})
	wg.Go(func() {
		took, ok := testkit.Poll(failoverTimeout, func() bool {
			down, up := sampler.result()
			if !up.IsZero() {
				return true
			}
			// A failover between two samples never shows a 503.
			n := a.nodeOf(f.nodes)
			return down.IsZero() && n >= 0 && n != victim && status(a.url("/readyz")) == http.StatusOK
		})
		down, up := sampler.result()
		note := "never saw it fail (sampled every 5 ms)"
		if !down.IsZero() {
			note = fmt.Sprintf("503 from +%s", down.Sub(killed).Round(time.Millisecond))
		}
		if !up.IsZero() {
			took = up.Sub(killed)
		}
		steps[1] = step{what: a.name + " /readyz 200 again", took: took, ok: ok, note: note}
	})
	wg.Go(func() {
		took, lost, ok := f.chatResumes(killed, failoverTimeout)
		steps[2] = step{what: "chat crosses between every pair of apps", took: took, ok: ok,
			note: fmt.Sprintf("%d earlier probe round(s) lost (one every %s)", lost, probeEvery)}
	})
	wg.Go(func() {
		var why string
		took, ok := testkit.PollEvery(failoverTimeout, convergePoll, func() bool {
			var done bool
			done, why = f.converged()
			return done
		})
		steps[3] = step{what: "every roster (views and instances) exact, every /readyz 200", took: took, ok: ok, note: why}
	})
	wg.Wait()
	for _, s := range steps {
		t.Logf("failover: %-62s +%s  %s", s.what, s.took.Round(time.Millisecond), s.note)
		if !s.ok {
			t.Errorf("prod: failover: %s: not within %s (%s)", s.what, failoverTimeout, s.note)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	is.Equal(f.leaves(), leavesBefore) // no presence.leave for members that never left

	// A join on the instance that failed over reaches every client.
	joined := time.Now()
	late := connect(t, "late", a.wsURL("/ws/chat"))
	s := late.session()
	testkit.WaitFor(t, convergeTimeout, "the late join to reach every client", func() bool {
		for _, c := range f.all() {
			if !slices.Contains(c.viewSessions(), s) {
				return false
			}
		}
		return true
	})
	f.byApp[0] = append(f.byApp[0], late)
	t.Logf("failover: a join on %s after the failover reached all %d clients in %s", a.name, len(f.all())-1, time.Since(joined).Round(time.Millisecond))
	f.waitConverged("every roster to hold the late client")
}

// rollingRestart restarts the apps one by one as a deploy does: SIGTERM
// (drain, then 1001 with retry=<ms>), wait for the exit, start the
// replacement on the same port. The clients of the stopped app reconnect
// on their own; the others must not notice anything but the leaves and
// joins.
func (f *fleet) rollingRestart() {
	t := f.t
	is := is.New(t)
	for i, a := range f.apps {
		group := f.byApp[i]
		connectsBefore, dialsBefore := make([]int, len(group)), 0
		for k, c := range group {
			connectsBefore[k] = c.connects()
			dialsBefore += c.refusedDials()
		}
		otherCloses := map[*client]int{}
		for j, cs := range f.byApp {
			if j != i {
				for _, c := range cs {
					otherCloses[c] = c.closeCount()
				}
			}
		}

		term := time.Now()
		a.proc.signal(t, syscall.SIGTERM)
		drained := testkit.WaitFor(t, drainDelay, a.name+" /readyz to answer 503 while draining", func() bool {
			return status(a.url("/readyz")) == http.StatusServiceUnavailable
		})
		a.proc.waitExit(t)
		exited := time.Since(term)
		is.Equal(a.proc.cmd.ProcessState.ExitCode(), 0) // a clean exit after SIGTERM
		a.launch(t, f.nodes)
		up := time.Since(term)

		testkit.WaitFor(t, reconnectWithin, "every client of "+a.name+" to reconnect", func() bool {
			for k, c := range group {
				if c.connects() <= connectsBefore[k] {
					return false
				}
			}
			return true
		})
		var firstClose, firstBack, lastBack time.Time
		var maxDelay time.Duration
		dials := 0
		for k, c := range group {
			is.Equal(c.connects(), connectsBefore[k]+1) // one reconnect, not several
			cl, ok := c.lastClose()
			is.True(ok)
			if cl.code != websocket.StatusGoingAway || retryHint(cl.reason) != reconnectWindow {
				t.Fatalf("prod: %s was closed with %d %q, want 1001 with retry=%d", c.name, cl.code, cl.reason, reconnectWindow.Milliseconds())
			}
			back := c.lastWelcome()
			if firstClose.IsZero() || cl.at.Before(firstClose) {
				firstClose = cl.at
			}
			if firstBack.IsZero() || back.Before(firstBack) {
				firstBack = back
			}
			if back.After(lastBack) {
				lastBack = back
			}
			maxDelay = max(maxDelay, cl.delay)
			dials += c.refusedDials()
		}
		dials -= dialsBefore
		spread := lastBack.Sub(firstBack)
		f.waitConverged("every roster to hold exactly the live clients after restarting " + a.name)
		exact := time.Since(lastBack)
		t.Logf("roll %s: 503 at +%s, sockets closed 1001 at +%s, exited at +%s, replacement ready at +%s; %d clients back from +%s to +%s (spread %s, largest backoff %s, %d refused dials); every roster exact %s after the last one was back",
			a.name, drained.Round(time.Millisecond), firstClose.Sub(term).Round(time.Millisecond), exited.Round(time.Millisecond), up.Round(time.Millisecond),
			len(group), firstBack.Sub(term).Round(time.Millisecond), lastBack.Sub(term).Round(time.Millisecond), spread.Round(time.Millisecond),
			maxDelay.Round(time.Millisecond), dials, exact.Round(time.Millisecond))

		is.True(firstClose.Sub(term) >= drainDelay-50*time.Millisecond) // the drain came before the close
		is.True(maxDelay < reconnectWindow)                             // the hint's window, no more
		// Spread over the window, not one burst. Each client waits a
		// uniform delay in [0, window) and, if the replacement is not up
		// yet, retries with a short jittered backoff. With the replacement
		// up within a quarter of the window, twelve clients all back within
		// another quarter has a probability below 3e-4; a slower start
		// bunches the early ones, so then only a burst (all within a tenth)
		// fails.
		want := reconnectWindow / 10
		if term.Add(up).Sub(firstClose) <= reconnectWindow/4 {
			want = reconnectWindow / 4
		}
		if spread < want {
			t.Errorf("prod: %s's clients all came back within %s, want them spread over at least %s of the %s window", a.name, spread, want, reconnectWindow)
		}
		// And within it: a client that found no server yet retries with a
		// doubling backoff, so it may wait about as long again as the
		// replacement took to start.
		late := max(0, term.Add(up).Sub(firstClose))
		if back := lastBack.Sub(firstClose); back > reconnectWindow+2*late+time.Second {
			t.Errorf("prod: the last client of %s came back %s after the close (replacement ready after %s), want within the %s window", a.name, back, late, reconnectWindow)
		}
		for c, n := range otherCloses {
			if c.closeCount() != n {
				t.Errorf("prod: %s (another app) was disconnected while %s restarted", c.name, a.name)
			}
		}
	}

	// Nothing is doubled: one message from a client of every app reaches
	// every client exactly once. A second message from each sender, sent
	// after it, fences the first; then a short wait for late copies.
	var texts, fences []string
	for i, cs := range f.byApp {
		text, fence := fmt.Sprintf("after-roll-from-app%d", i+1), fmt.Sprintf("fence-from-app%d", i+1)
		is.NoErr(cs[0].say(text))
		is.NoErr(cs[0].say(fence))
		texts, fences = append(texts, text), append(fences, fence)
	}
	testkit.WaitFor(t, 5*time.Second, "every client to get every message after the roll", func() bool {
		for _, c := range f.all() {
			for _, fence := range fences {
				if c.got(fence) == 0 {
					return false
				}
			}
		}
		return true
	})
	if _, doubled := testkit.Poll(noDoubleWait, func() bool {
		for _, c := range f.all() {
			for _, text := range append(texts, fences...) {
				if c.got(text) != 1 {
					return true
				}
			}
		}
		return false
	}); doubled {
		var bad []string
		for _, c := range f.all() {
			for _, text := range append(texts, fences...) {
				if n := c.got(text); n != 1 {
					bad = append(bad, fmt.Sprintf("%s got %q %d times", c.name, text, n))
				}
			}
		}
		t.Fatalf("prod: after the roll, not exactly once: %s", strings.Join(bad, "; "))
	}
	t.Logf("after the roll: %d messages reached all %d clients exactly once", len(texts)+len(fences), len(f.all()))
}
