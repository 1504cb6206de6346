package config_test

import (
	"os"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/config"
)

func TestDefaults(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "---\n", "{}", "server:\nlogger: ~\nwebsocket: {}\n"} {
		t.Run(src, func(t *testing.T) {
			is := is.New(t)
			c, err := config.Parse([]byte(src), nil)
			is.NoErr(err)
			is.Equal(c, config.Default())
		})
	}

	is := is.New(t)
	c := config.Default()
	is.Equal(c.Server, config.Server{Addr: ":8080", ShutdownTimeout: 10 * time.Second, DrainDelay: 5 * time.Second, ReconnectWindow: 10 * time.Second})
	is.Equal(c.Logger, config.Logger{Level: "info", Format: "console", AccessLog: true})
	is.Equal(c.Metrics, config.Metrics{Enabled: true, Path: "/metrics", Addr: ""})
	is.Equal(len(c.Server.TrustedProxies), 0)
	is.Equal(c.Apps, []string{"main"})
	is.Equal(c.WebSocket, config.DefaultLimits()) // TestDefaultLimits has the values
	is.True(c.WSCluster == nil)
	is.Equal(len(c.Services.Buses), 0)
	is.Equal(len(c.Services.Databases), 0)

	c.Apps[0] = "changed" // each call returns a fresh value
	is.Equal(config.Default().Apps, []string{"main"})
}

// designExample is the config shape from DESIGN.md §3, verbatim.
const designExample = `server: { addr: ":${PORT:-8080}", shutdownTimeout: 10s }
logger: { level: info, format: console }   # console | json
apps: [main]                                # which apps under apps/ this process serves
services:
  buses:
    main: { driver: nats, url: "${NATS_URL:-embedded}" }
  databases:
    main: { driver: sqlite, dsn: "${DATABASE_URL:-file:data/app.db}" }
wsCluster:
  bus: main                 # must name a bus whose driver is nats
  subjectPrefix: mega.ws    # valid NATS subject tokens only
  roster: { driver: nats, ttl: "${ROSTER_TTL:-10s}" }   # nats | none
`

func TestDesignExample(t *testing.T) {
	is := is.New(t)
	c, err := config.Parse([]byte(designExample), env(nil))
	is.NoErr(err)
	is.Equal(c.Server.Addr, ":8080")
	is.Equal(c.Services.Buses["main"], config.Bus{Driver: "nats", URL: "embedded"})
	is.Equal(c.Services.Databases["main"], config.Database{Driver: "sqlite", DSN: "file:data/app.db"})
	is.Equal(*c.WSCluster, config.WSCluster{
		Bus:           "main",
		SubjectPrefix: "mega.ws",
		Roster:        config.Roster{Driver: "nats", TTL: 10 * time.Second},
	})

	c, err = config.Parse([]byte(designExample), env(map[string]string{"ROSTER_TTL": "3s", "PORT": "3000"}))
	is.NoErr(err)
	is.Equal(c.Server.Addr, ":3000")
	is.Equal(c.WSCluster.Roster.TTL, 3*time.Second)
}

func TestWSClusterDefaults(t *testing.T) {
	is := is.New(t)
	c, err := config.Parse([]byte(withBus+"wsCluster: {bus: main}"), nil)
	is.NoErr(err)
	is.Equal(*c.WSCluster, config.WSCluster{
		Bus:           "main",
		SubjectPrefix: "mega.ws",
		Roster:        config.Roster{Driver: "nats", TTL: 10 * time.Second},
	})
}

func TestFullExample(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile("testdata/full.yaml")
	is.NoErr(err)
	c, err := config.Parse(data, env(nil))
	is.NoErr(err)
	is.Equal(c.Apps, []string{"main", "admin"})
	is.Equal(c.Services.Buses["remote"].URLs(), []string{"nats://n1.internal:4222", "tls://n2.internal:4222"})
	is.Equal(c.WebSocket.AllowedOrigins, []string{"example.com", "*.example.com"})
	is.NoErr(c.CheckApps([]string{"main", "admin"}))
}

func TestAppMerge(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile("testdata/full.yaml")
	is.NoErr(err)
	c, err := config.Parse(data, env(nil))
	is.NoErr(err)

	main := c.App("main") // no override: the global settings
	is.Equal(main, config.AppSettings{Logger: c.Logger, WebSocket: c.WebSocket})

	admin := c.App("admin")
	is.Equal(admin.Logger, config.Logger{Level: "debug", Format: "console", AccessLog: true}) // format and accessLog inherited
	want := c.WebSocket
	want.ReadLimit = 1 << 20
	want.AllowedOrigins = []string{} // explicitly emptied: same origin only
	want.MessagesPerSecond = 5
	is.Equal(admin.WebSocket, want)

	is.Equal(c.App("unknown"), main) // apps without a section get the globals

	// The merged value is a copy: changing it leaves the config alone.
	main.WebSocket.AllowedOrigins[0] = "changed"
	is.Equal(c.WebSocket.AllowedOrigins[0], "example.com")
}

func TestBusURLs(t *testing.T) {
	tests := []struct {
		url      string
		embedded bool
		urls     []string
	}{
		{"embedded", true, nil},
		{"nats://a:4222", false, []string{"nats://a:4222"}},
		{" nats://a:4222 ,tls://b:4222 ", false, []string{"nats://a:4222", "tls://b:4222"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			is := is.New(t)
			b := config.Bus{Driver: "nats", URL: tt.url}
			is.Equal(b.Embedded(), tt.embedded)
			is.Equal(b.URLs(), tt.urls)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"65536", 65536, false},
		{"0", 0, false},
		{"10B", 10, false},
		{"64KiB", 64 << 10, false},
		{"64 kib", 64 << 10, false},
		{"2KB", 2000, false},
		{"1MiB", 1 << 20, false},
		{"3MB", 3_000_000, false},
		{"", 0, true},
		{"KiB", 0, true},
		{"-1", 0, true},
		{"1.5MiB", 0, true},
		{"1GiB", 0, true},
		{"64KiB!", 0, true},
		{"1İ", 0, true},
		{"İ", 0, true},
		{"99999999999999999999", 0, true},
		{"9999999999999MiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			is := is.New(t)
			got, err := config.ParseSize(tt.in)
			is.Equal(err != nil, tt.wantErr)
			is.Equal(got, tt.want)
		})
	}
}

func TestYAMLFeatures(t *testing.T) {
	is := is.New(t)
	src := `
limits: &limits {readLimit: 1KiB, burst: 3}
`
	// Anchors work where a value is expected; unknown top-level keys are still reported.
	is.Equal(problems(t, src, nil), []string{`limits: unknown key (valid: appConfig, apps, logger, metrics, server, services, websocket, wsCluster)`})

	c, err := config.Parse([]byte("websocket: &ws {readLimit: 1KiB, burst: 3}\nappConfig: {main: {websocket: *ws}}\n"), nil)
	is.NoErr(err)
	is.Equal(c.App("main").WebSocket.ReadLimit, int64(1024))
	is.Equal(c.App("main").WebSocket.Burst, 3)
}

func TestDrainSettings(t *testing.T) {
	is := is.New(t)
	c, err := config.Parse([]byte("server: { drainDelay: 0, reconnectWindow: 3s }"), nil)
	is.NoErr(err)
	is.Equal(c.Server.DrainDelay, time.Duration(0)) // 0 turns the drain off
	is.Equal(c.Server.ReconnectWindow, 3*time.Second)
	c, err = config.Parse([]byte("server: { shutdownTimeout: 30s, drainDelay: 15s }"), nil)
	is.NoErr(err)
	is.Equal(c.Server.DrainDelay, 15*time.Second)
	c, err = config.Parse([]byte("server: { shutdownTimeout: 2s }"), nil)
	is.NoErr(err) // the default drain is capped at run time, not an error
	is.Equal(c.Server.DrainDelay, 5*time.Second)
}
