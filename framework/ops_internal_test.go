package mega

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/internal/testkit"
)

// logLines is a concurrency-safe log sink that parses JSON log lines.
type logLines struct{ testkit.Buffer }

// find returns the log lines whose fields include every key=value of want.
func (l *logLines) find(want map[string]any) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		ok := true
		for k, v := range want {
			if line[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// bootLogged boots one instance of a small chat app from yaml with its logs
// captured as JSON lines.
func bootLogged(t *testing.T, yaml string) (*Instance, *logLines) {
	t.Helper()
	logs := &logLines{}
	prev := logOutput
	logOutput = logs
	t.Cleanup(func() { logOutput = prev })
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Addr = "127.0.0.1:0"
	apps := Apps{"main": func(env *Env) (*App, error) {
		app := env.NewApp()
		app.Channel("/ws/chat", nopChannel{}, WithAuth(func(r *http.Request) (User, error) {
			return User{ID: "ann"}, nil
		}))
		return app, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inst, err := Boot(ctx, cfg, apps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
	})
	return inst, logs
}

// waitLog waits until a line with want's fields is logged.
func waitLog(t *testing.T, logs *logLines, want map[string]any) map[string]any {
	t.Helper()
	var got []map[string]any
	if _, ok := testkit.Poll(5*time.Second, func() bool { got = logs.find(want); return len(got) > 0 }); !ok {
		t.Fatalf("no log line with %v in:\n%s", want, logs.String())
	}
	return got[0]
}

// dialWS opens a WebSocket with extra headers and returns the HTTP status.
func dialWS(t *testing.T, url string, h http.Header) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		return nil, status
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws, status
}

func TestAccessLogAndRequestIDs(t *testing.T) {
	is := is.New(t)
	inst, logs := bootLogged(t, "logger: { level: debug, format: json }")

	req, _ := http.NewRequest(http.MethodGet, inst.URL()+"/nope", nil)
	req.Header.Set("X-Request-Id", "trace-42")
	resp, err := http.DefaultClient.Do(req)
	is.NoErr(err)
	resp.Body.Close()
	line := waitLog(t, logs, map[string]any{"path": "/nope", "req": "trace-42"})
	is.Equal(line["level"], "info")
	is.Equal(line["status"], 404.0)
	is.Equal(line["method"], "GET")
	is.Equal(line["ip"], "127.0.0.1")
	is.True(strings.HasSuffix(line["dur"].(string), "s")) // a duration with its unit ("1.2ms", "850µs")

	// The upgrade is one request; the connection's own lines carry its id.
	ws, status := dialWS(t, "ws"+strings.TrimPrefix(inst.URL(), "http")+"/ws/chat", http.Header{"X-Request-Id": {"up-7"}})
	is.Equal(status, http.StatusSwitchingProtocols)
	waitLog(t, logs, map[string]any{"path": "/ws/chat", "req": "up-7", "status": 101.0})
	_ = ws.Close(websocket.StatusNormalClosure, "bye")
	waitLog(t, logs, map[string]any{"message": "disconnected", "req": "up-7", "ns": "/ws/chat"})

	// Probes are logged at debug, each event once.
	resp, err = http.Get(inst.URL() + "/readyz")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(waitLog(t, logs, map[string]any{"path": "/readyz"})["level"], "debug")
}

func TestBootLogsEachEventOnceWithUnits(t *testing.T) {
	is := is.New(t)
	inst, logs := bootLogged(t, `
logger: { level: info, format: json }
services: { buses: { main: { driver: nats, url: embedded } } }
wsCluster: { bus: main, roster: { driver: nats, ttl: 10s } }`)
	var connected []string
	for _, l := range logs.find(map[string]any{}) {
		if msg, _ := l["message"].(string); strings.Contains(msg, "connected") {
			connected = append(connected, msg)
		}
	}
	is.Equal(len(connected), 1) // "bus connected: embedded nats-server at ...", once
	var clusterLines int
	for _, l := range logs.find(map[string]any{}) {
		if msg, _ := l["message"].(string); strings.HasPrefix(msg, "cluster") {
			clusterLines++
		}
	}
	is.Equal(clusterLines, 1) // "cluster wired and synced", once
	is.Equal(logs.find(map[string]any{"message": "cluster wired and synced"})[0]["ttl"], "10s")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	is.NoErr(inst.Shutdown(ctx))
	all := logs.find(map[string]any{})
	is.Equal(all[len(all)-1]["message"], "stopped") // the last word
}

func TestFailedBootDoesNotSayStopped(t *testing.T) {
	is := is.New(t)
	logs := &logLines{}
	prev := logOutput
	logOutput = logs
	defer func() { logOutput = prev }()
	cfg, err := config.Parse([]byte("logger: { level: info, format: json }"), func(string) (string, bool) { return "", false })
	is.NoErr(err)
	cfg.Server.Addr = "127.0.0.1:0"
	_, err = Boot(context.Background(), cfg, Apps{"main": func(*Env) (*App, error) {
		return nil, errors.New("database is locked")
	}})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "database is locked"))
	is.Equal(len(logs.find(map[string]any{"message": "stopped"})), 0) // only the error, which the caller prints
}

func TestTrustedProxiesDecideTheClientAddress(t *testing.T) {
	tests := []struct {
		name     string
		trusted  string
		headers  [2]http.Header // two dials; the per-IP cap is 1
		secondOK bool
		logged   string // the ip the first upgrade's access log line shows
	}{
		{
			name:     "trusted peer: X-Forwarded-For names two clients",
			trusted:  "[127.0.0.1]",
			headers:  [2]http.Header{{"X-Forwarded-For": {"203.0.113.7"}}, {"X-Forwarded-For": {"203.0.113.8"}}},
			secondOK: true, logged: "203.0.113.7",
		},
		{
			name:    "trusted peer: one client behind two proxies",
			trusted: "[127.0.0.1, 10.0.0.0/8]",
			headers: [2]http.Header{{"X-Forwarded-For": {"203.0.113.7, 10.1.2.3"}}, {"Forwarded": {`for="203.0.113.7:4711";proto=https, for=10.9.9.9`}}},
			logged:  "203.0.113.7",
		},
		{
			name:    "untrusted peer: spoofed headers change nothing",
			trusted: "[10.0.0.0/8]",
			headers: [2]http.Header{{"X-Forwarded-For": {"203.0.113.7"}}, {"Forwarded": {"for=203.0.113.8"}}},
			logged:  "127.0.0.1",
		},
		{
			name:    "no trusted proxies (the default)",
			trusted: "[]",
			headers: [2]http.Header{{"X-Forwarded-For": {"203.0.113.7"}}, {"X-Forwarded-For": {"203.0.113.8"}}},
			logged:  "127.0.0.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			inst, logs := bootLogged(t, "server: { trustedProxies: "+tt.trusted+" }\n"+
				"logger: { level: info, format: json }\nwebsocket: { maxConnectionsPerIP: 1 }")
			url := "ws" + strings.TrimPrefix(inst.URL(), "http") + "/ws/chat"
			h0 := tt.headers[0].Clone()
			h0.Set("X-Request-Id", "first")
			_, status := dialWS(t, url, h0)
			is.Equal(status, http.StatusSwitchingProtocols)
			_, status = dialWS(t, url, tt.headers[1])
			if tt.secondOK {
				is.Equal(status, http.StatusSwitchingProtocols) // another client address: under its own cap
			} else {
				is.Equal(status, http.StatusTooManyRequests) // the same client address: over the cap
			}
			is.Equal(waitLog(t, logs, map[string]any{"req": "first", "status": 101.0})["ip"], tt.logged)
		})
	}
}

func TestColourOnlyOnATerminal(t *testing.T) {
	is := is.New(t)
	f, err := os.CreateTemp(t.TempDir(), "log")
	is.NoErr(err)
	defer f.Close()
	is.True(!colorful(f))               // a file
	is.True(!colorful(&bytes.Buffer{})) // not a file at all
	var b bytes.Buffer
	log := newLogger(config.Logger{Level: "info", Format: "console"}, &b)
	log.Info().Stringer("ttl", 10*time.Second).Msg("hello")
	is.True(!strings.Contains(b.String(), "\x1b[")) // no ANSI escapes
	is.True(strings.Contains(b.String(), "ttl=10s"))
}

func TestAccessLogOffForOneApp(t *testing.T) {
	is := is.New(t)
	inst, logs := bootLogged(t, "logger: { level: info, format: json }\nappConfig: { main: { logger: { accessLog: false } } }")
	for _, path := range []string{"/nope", "/also-nope"} {
		resp, err := http.Get(inst.URL() + path)
		is.NoErr(err)
		resp.Body.Close()
	}
	// Shutdown waits for every handler to return: a line would be written by then.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	is.NoErr(inst.Shutdown(ctx))
	is.True(len(logs.find(map[string]any{"message": "stopped"})) == 1)
	is.Equal(len(logs.find(map[string]any{"path": "/nope"})), 0)
	is.Equal(len(logs.find(map[string]any{"path": "/also-nope"})), 0)
}

func TestBusPasswordNeverLogged(t *testing.T) {
	is := is.New(t)
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, Username: "app", Password: "s3cret-pw", NoLog: true, NoSigs: true})
	is.NoErr(err)
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	is.True(srv.ReadyForConnections(5 * time.Second))
	url := fmt.Sprintf("nats://app:s3cret-pw@127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	inst, logs := bootLogged(t, `
logger: { level: debug, format: json }
services: { buses: { main: { driver: nats, url: "`+url+`" } } }
wsCluster: { bus: main, roster: { driver: nats, ttl: 2s } }`)
	waitLog(t, logs, map[string]any{"message": "cluster wired and synced"})
	is.True(!strings.Contains(inst.BusURL(), "s3cret-pw"))
	is.True(strings.Contains(logs.String(), "bus connected: nats://app:")) // the URL is shown…
	is.True(!strings.Contains(logs.String(), "s3cret-pw"))                 // …without the password
}
