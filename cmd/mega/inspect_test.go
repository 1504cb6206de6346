package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/framework/inspect"
	"github.com/megaframework/mega/framework/natstest"
)

// fakeInstance answers inspect requests on prefix with r, the way a booted
// instance does, until the test ends.
func fakeInstance(t *testing.T, url, prefix string, r inspect.Reply) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(inspect.Subject(prefix), func(m *nats.Msg) { _ = m.Respond(b) }); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// fakeReply is an instance of app main with one namespace.
func fakeReply(id, listen string, uptime float64, conns, members int, peers ...string) inspect.Reply {
	return inspect.Reply{
		Version: inspect.Version, ID: id, Listen: listen, UptimeSeconds: uptime, Connections: conns, Peers: peers,
		Apps: []inspect.App{{
			Name: "main", Connections: conns,
			Namespaces: []inspect.Namespace{{Namespace: "/ws/chat", Connections: conns, Members: members}},
			Cluster: inspect.Cluster{
				Roster: "nats", TTLSeconds: 10, Peers: peers,
				Published: inspect.Kinds{Broadcast: 1, Roster: 12}, Received: inspect.Kinds{Direct: 2, Roster: 30},
			},
		}},
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestInspectPrintsTablesAndListsTheMissing(t *testing.T) {
	is := is.New(t)
	url := natstest.URL(natstest.StartServer(t))
	// bbbb's view lags: it counts 2 members where aaaa counts 3. Both list
	// cccc, which does not answer.
	fakeInstance(t, url, "acme.ws", fakeReply("bbbb", "http://10.0.0.2:8080", 42.7, 1, 2, "aaaa", "cccc"))
	fakeInstance(t, url, "acme.ws", fakeReply("aaaa", "http://10.0.0.1:8080", 3725, 2, 3, "bbbb", "cccc"))

	t0 := time.Now()
	code, stdout, stderr := mega(t, "inspect", "--nats", url, "--prefix", "acme.ws", "--timeout", "300ms")
	took := time.Since(t0)
	is.Equal(code, 0) // missing instances are a warning
	is.True(took >= 300*time.Millisecond)
	is.Equal(stdout, "2 instances on "+url+", prefix acme.ws, 1 missing\n"+
		"\n"+
		"ID     APPS   LISTEN                 UPTIME   CONNECTIONS   PEERS   STATUS\n"+
		"aaaa   main   http://10.0.0.1:8080   1h2m     2             2       ok\n"+
		"bbbb   main   http://10.0.0.2:8080   42s      1             2       ok\n"+
		"cccc   -      -                      -        -             -       missing: no answer within 300ms\n"+
		"\n"+
		"APP    NAMESPACE   MEMBERS   CONNECTIONS\n"+
		"main   /ws/chat    2..3      3\n"+
		"(MIN..MAX: the instances' views differ while the roster converges, or until the peers drop a missing instance's members)\n"+
		"\n"+
		"INSTANCE   APP    ROSTER   PEERS   PUBLISHED B/D/R   RECEIVED B/D/R   DROPPED\n"+
		"aaaa       main   nats     2       1/0/12            0/2/30           0\n"+
		"bbbb       main   nats     2       1/0/12            0/2/30           0\n")
	is.Equal(stderr, "mega: warning: 1 instance did not answer within 300ms:\n"+
		"  cccc (a peer of aaaa, bbbb)\n"+
		"It may have crashed or lost NATS; its peers drop it after the roster TTL (10s). Or it is slow: retry with a longer --timeout.\n")

	// --json: one document on stdout, the warning on stderr.
	code, stdout, stderr = mega(t, "inspect", "--nats", url, "--prefix", "acme.ws", "--timeout", "300ms", "--json")
	is.Equal(code, 0)
	is.True(strings.Contains(stderr, "cccc (a peer of aaaa, bbbb)"))
	var res inspect.Result
	is.NoErr(json.Unmarshal([]byte(stdout), &res))
	is.Equal(res.Version, inspect.Version)
	is.Equal(res.Subject, "acme.ws.inspect")
	is.Equal(res.TimeoutSeconds, 0.3)
	is.Equal(len(res.Instances), 2)
	is.Equal(res.Instances[0].ID, "aaaa")
	is.Equal(res.Instances[1].ID, "bbbb")
	is.Equal(res.Missing, []inspect.Missing{{ID: "cccc", ListedBy: []string{"aaaa", "bbbb"}, Reason: "no answer within 300ms"}})
	is.Equal(res.Namespaces, []inspect.NamespaceTotal{{App: "main", Namespace: "/ws/chat", Members: 3, MembersMin: 2, Connections: 3, Instances: 2}})
}

func TestInspectReturnsOnceEveryKnownInstanceAnswered(t *testing.T) {
	is := is.New(t)
	url := natstest.URL(natstest.StartServer(t))
	fakeInstance(t, url, "mega.ws", fakeReply("aaaa", "http://10.0.0.1:8080", 1, 0, 0, "bbbb"))
	fakeInstance(t, url, "mega.ws", fakeReply("bbbb", "http://10.0.0.2:8080", 1, 0, 0, "aaaa"))
	t.Setenv("NATS_URL", url) // the default when --nats is not given
	t0 := time.Now()
	code, stdout, stderr := mega(t, "inspect", "--timeout", "10s")
	t.Logf("took %s", time.Since(t0))
	is.Equal(code, 0)
	is.Equal(stderr, "")
	is.True(time.Since(t0) < 5*time.Second) // not the 10s timeout
	is.True(strings.HasPrefix(stdout, "2 instances on "+url+", prefix mega.ws\n"))
}

func TestInspectErrors(t *testing.T) {
	url := natstest.URL(natstest.StartServer(t))
	dead := closedPort(t)
	cases := []struct {
		name string
		env  string // NATS_URL
		args []string
		code int
		want []string // in stderr
		not  string   // not in stderr
	}{
		{name: "NATS unreachable", args: []string{"--nats", "nats://u:s3cret@" + dead}, code: 1,
			want: []string{"mega: cannot connect to NATS at nats://u:xxxxx@" + dead + " (--nats): ", "--nats URL or NATS_URL", "bus connected: embedded nats-server at"},
			not:  "s3cret"},
		{name: "NATS_URL unreachable", env: "nats://" + dead, code: 1,
			want: []string{"cannot connect to NATS at nats://" + dead + " ($NATS_URL)"}},
		{name: "nobody answers", args: []string{"--nats", url, "--prefix", "acme.ws"}, code: 1,
			want: []string{"mega: no instance answered on acme.ws.inspect at NATS " + url + `: no mega instance uses the subject prefix "acme.ws" there (or none is running).`, "Pass --prefix"}},
		{name: "bad prefix", args: []string{"--prefix", "acme.*"}, code: 2, want: []string{`--prefix "acme.*": must be NATS subject tokens`, "Run 'mega inspect --help'"}},
		{name: "bad timeout", args: []string{"--timeout", "0s"}, code: 2, want: []string{"--timeout must be positive"}},
		{name: "argument", args: []string{"main"}, code: 2, want: []string{`unexpected argument "main"`}},
		{name: "embedded", args: []string{"--nats", "embedded"}, code: 2, want: []string{"pass its URL, which it logs at boot"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			t.Setenv("NATS_URL", c.env)
			t0 := time.Now()
			code, stdout, stderr := mega(t, append([]string{"inspect"}, c.args...)...)
			is.Equal(code, c.code)
			is.Equal(stdout, "")
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if c.not != "" && strings.Contains(stderr, c.not) {
				t.Errorf("stderr shows %q:\n%s", c.not, stderr)
			}
			// NATS says at once that nobody listens: no waiting for the timeout.
			is.True(time.Since(t0) < 5*time.Second)
		})
	}
}
