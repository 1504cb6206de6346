//go:build unix

package prod_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/megaframework/mega/internal/testkit"
)

// Deadlines of the harness. Every wait polls a condition until its
// deadline; none sleeps for a fixed time and hopes.
const (
	buildTimeout  = 8 * time.Minute  // go build of both binaries (about 4 min on 2 cores with a cold cache)
	nodeTimeout   = 10 * time.Second // a nats-server answers on its monitoring port
	routesTimeout = 15 * time.Second // the three nodes are routed to each other
	routesSettle  = 200 * time.Millisecond
	readyTimeout  = 20 * time.Second // an app answers /readyz with 200
	exitTimeout   = 10 * time.Second // a process exits after a signal (shutdownTimeout is 5s)
)

// bins are the binaries the test runs, built once per test binary.
var bins struct {
	once sync.Once
	dir  string // temporary directory, removed by TestMain
	nats string // nats-server
	app  string // testdata/prodapp
	conf string // testdata/prodapp/mega.yaml, absolute
	took time.Duration
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		_ = os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// build compiles nats-server (from the nats-server module in mega's
// go.mod) and the test app, in parallel, once per test binary.
func build(t *testing.T) {
	t.Helper()
	bins.once.Do(func() {
		start := time.Now()
		if bins.dir, bins.err = os.MkdirTemp("", "mega-prod-"); bins.err != nil {
			return
		}
		if bins.conf, bins.err = filepath.Abs(filepath.Join("testdata", "prodapp", "mega.yaml")); bins.err != nil {
			return
		}
		bins.nats = filepath.Join(bins.dir, "nats-server")
		bins.app = filepath.Join(bins.dir, "prodapp")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, args := range [][]string{
			{"build", "-o", bins.nats, "github.com/nats-io/nats-server/v2"},
			{"build", "-o", bins.app, "./testdata/prodapp"},
		} {
			wg.Go(func() {
				cmd := exec.CommandContext(ctx, "go", args...)
				cmd.SysProcAttr = sysProcAttr() // dies with the test binary
				out, err := cmd.CombinedOutput()
				if err != nil {
					errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			})
		}
		wg.Wait()
		bins.err = errors.Join(errs...)
		bins.took = time.Since(start)
	})
	if bins.err != nil {
		t.Fatalf("prod: building the binaries: %v", bins.err)
	}
}

// ---- processes ---------------------------------------------------------

// proc is one child process in a process group of its own.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *testkit.Buffer
	exited chan struct{} // closed once cmd has been waited for
}

// startProc starts bin in a new process group. When the test ends the
// whole group is killed (also when the test failed), and the output is
// shown if the test failed.
func startProc(t *testing.T, name, bin string, args, env []string, log *testkit.Buffer) (*proc, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = bins.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(log, "--- start %s: %s %s\n", name, filepath.Base(bin), strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(log, "--- %s exited: %v\n", name, err)
		close(p.exited)
	}()
	t.Cleanup(p.killGroup)
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("prod: %s to %s: %v", sig, p.name, err)
	}
}

// waitExit waits until the process has exited, for at most exitTimeout.
func (p *proc) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(exitTimeout):
		p.killGroup()
		t.Fatalf("prod: %s did not exit within %s", p.name, exitTimeout)
	}
}

// killGroup kills the process's whole group with SIGKILL and waits for the
// process (bounded: the kernel reaps a SIGKILLed process at once). Once
// the process has been waited for, its id may belong to someone else:
// then nothing is killed.
func (p *proc) killGroup() {
	if !p.running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(exitTimeout):
	}
}

// ---- ports and HTTP ----------------------------------------------------

// showLogs (MEGA_PROD_LOGS=1) shows every process's output after the test,
// not only after a failure.
var showLogs = os.Getenv("MEGA_PROD_LOGS") != ""

// appLogLevel is the apps' logger.level: MEGA_PROD_LOG_LEVEL, else info.
var appLogLevel = cmp.Or(os.Getenv("MEGA_PROD_LOG_LEVEL"), "info")

var httpClient = &http.Client{Timeout: 2 * time.Second}

// status returns the HTTP status of GET url, 0 when it cannot be reached.
func status(url string) int {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// getJSON decodes the JSON body of GET url into v.
func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// ---- the NATS cluster --------------------------------------------------

// natsNode is one nats-server process of the cluster.
type natsNode struct {
	name                   string
	client, route, monitor int // ports
	proc                   *proc
}

// URL is the node's client URL.
func (n *natsNode) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.client) }

func (n *natsNode) monitorURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.monitor, path)
}

// peers returns the names of the nodes this node has routes to (several
// pooled routes to one peer count once), or nil when it cannot be asked.
func (n *natsNode) peers() []string {
	var rz struct {
		Routes []struct {
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	if getJSON(n.monitorURL("/routez"), &rz) != nil {
		return nil
	}
	var names []string
	for _, r := range rz.Routes {
		if !slices.Contains(names, r.RemoteName) {
			names = append(names, r.RemoteName)
		}
	}
	slices.Sort(names)
	return names
}

// connections returns the names of the node's client connections, or an
// error when the node cannot be asked.
func (n *natsNode) connections() ([]string, error) {
	var cz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := getJSON(n.monitorURL("/connz?limit=4096"), &cz); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cz.Connections))
	for _, c := range cz.Connections {
		names = append(names, c.Name)
	}
	return names, nil
}

// startNATSCluster starts three nats-server processes on loopback, routed
// into one cluster, and waits until every node has routes to both others.
// A start that loses a port race is tried again on other ports.
func startNATSCluster(t *testing.T) []*natsNode {
	t.Helper()
	log := &testkit.Buffer{}
	t.Cleanup(func() {
		if t.Failed() || showLogs {
			t.Logf("nats-server output:\n%s", tail(log.String(), 8000))
		}
	})
	for try := 1; ; try++ {
		nodes, err := tryNATSCluster(t, log)
		if err == nil {
			return nodes
		}
		if try == 3 || !strings.Contains(log.String(), "address already in use") {
			t.Fatalf("prod: NATS cluster: %v", err)
		}
		for _, n := range nodes {
			n.proc.killGroup()
		}
	}
}

func tryNATSCluster(t *testing.T, log *testkit.Buffer) ([]*natsNode, error) {
	var taken []int
	nodes := make([]*natsNode, 3)
	for i := range nodes {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1)}
		n.client = testkit.FreePort(t, taken...)
		taken = append(taken, n.client)
		n.route = testkit.FreePort(t, taken...)
		taken = append(taken, n.route)
		n.monitor = testkit.FreePort(t, taken...)
		taken = append(taken, n.monitor)
		nodes[i] = n
	}
	var started []*natsNode
	for i, n := range nodes {
		var routes []string
		for j, o := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", o.route))
			}
		}
		args := []string{
			"-n", n.name, "-a", "127.0.0.1", "-p", strconv.Itoa(n.client), "-m", strconv.Itoa(n.monitor),
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.route), "--cluster_name", "mega-prod",
			"--routes", strings.Join(routes, ","),
		}
		p, err := startProc(t, "nats "+n.name, bins.nats, args, nil, log)
		if err != nil {
			return started, err
		}
		n.proc = p
		started = append(started, n)
	}
	for _, n := range nodes {
		if _, ok := testkit.Poll(nodeTimeout, func() bool { return !n.proc.running() || status(n.monitorURL("/healthz")) == http.StatusOK }); !ok || !n.proc.running() {
			return started, fmt.Errorf("node %s did not start (its output is below)", n.name)
		}
	}
	// Two nodes that dial each other at the same moment may drop the
	// duplicate route and dial again: the mesh must hold for a moment.
	var stable time.Time
	var state string
	_, ok := testkit.Poll(routesTimeout, func() bool {
		formed := true
		state = ""
		for _, n := range nodes {
			p := n.peers()
			state += fmt.Sprintf(" %s→%v", n.name, p)
			formed = formed && len(p) == 2
		}
		switch {
		case !formed:
			stable = time.Time{}
		case stable.IsZero():
			stable = time.Now()
		}
		return formed && time.Since(stable) >= routesSettle
	})
	if !ok {
		return started, fmt.Errorf("routes not formed within %s:%s", routesTimeout, state)
	}
	return nodes, nil
}

// ---- app processes -----------------------------------------------------

// appProc is one instance of the test app: a port that survives restarts
// and the process currently serving it.
type appProc struct {
	name    string
	port    int
	natsURL string
	log     *testkit.Buffer
	proc    *proc
	conn    string // its NATS connection's name, "mega/main/<instance id>"
}

func (a *appProc) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", a.port, path)
}

func (a *appProc) wsURL(path string) string {
	return fmt.Sprintf("ws://127.0.0.1:%d%s", a.port, path)
}

// newApp prepares an instance whose bus lists every node, first one
// first; launch starts it.
func newApp(t *testing.T, name string, nodes []*natsNode, first int, taken []int) *appProc {
	t.Helper()
	urls := []string{nodes[first].URL()}
	for i, n := range nodes {
		if i != first {
			urls = append(urls, n.URL())
		}
	}
	a := &appProc{name: name, port: testkit.FreePort(t, taken...), natsURL: strings.Join(urls, ","), log: &testkit.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() || showLogs {
			t.Logf("output of app %s (port %d):\n%s", a.name, a.port, tail(a.log.String(), 8000))
		}
	})
	return a
}

// launch starts a process of the app on its port and waits until /readyz
// answers 200 and its NATS connection shows on one of the nodes, whose
// index it returns.
func (a *appProc) launch(t *testing.T, nodes []*natsNode) int {
	t.Helper()
	before := map[string]bool{}
	for _, n := range nodes {
		if names, err := n.connections(); err == nil {
			for _, c := range names {
				before[c] = true
			}
		}
	}
	p, err := startProc(t, a.name, bins.app, []string{"--config", bins.conf},
		[]string{"PORT=" + strconv.Itoa(a.port), "NATS_URL=" + a.natsURL, "LOG_LEVEL=" + appLogLevel}, a.log)
	if err != nil {
		t.Fatalf("prod: %v", err)
	}
	a.proc = p
	testkit.WaitFor(t, readyTimeout, a.name+" to answer /readyz with 200", func() bool {
		if !p.running() {
			t.Fatalf("prod: %s exited while starting (its output follows the test)", a.name)
		}
		return status(a.url("/readyz")) == http.StatusOK
	})
	// Its connection is the one named mega/... that was not there before.
	node := -1
	testkit.WaitFor(t, 5*time.Second, a.name+"'s NATS connection on a node", func() bool {
		for i, n := range nodes {
			names, _ := n.connections()
			for _, c := range names {
				if strings.HasPrefix(c, "mega/") && !before[c] {
					a.conn, node = c, i
					return true
				}
			}
		}
		return false
	})
	return node
}

// nodeOf returns the index of the running node a's NATS connection is on,
// or -1.
func (a *appProc) nodeOf(nodes []*natsNode) int {
	for i, n := range nodes {
		if !n.proc.running() {
			continue
		}
		names, _ := n.connections()
		if slices.Contains(names, a.conn) {
			return i
		}
	}
	return -1
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
