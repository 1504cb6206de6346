package mega

import (
	"errors"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/config"
)

// TestDatabaseNotConfigured checks the boot reports a database an app opens
// but services.databases lacks as mega config check does.
func TestDatabaseNotConfigured(t *testing.T) {
	is := is.New(t)
	env := NewEnv("blog", nil, zerolog.Nop())
	defer env.Close()
	db, err := env.Database("posts")
	is.True(db == nil)
	is.True(errors.Is(err, config.ErrInvalid))
	is.Equal(err.Error(), `mega: services.databases.posts: no such database, but app "blog" opens it (have: none); add it, e.g. posts: { driver: sqlite, dsn: "file:data/posts.db" }`)
}

// limitsYAML sets every limit globally and some for the app main.
const limitsYAML = `apps: [main, other]
websocket:
  readLimit: 128KiB
  sendQueue: 2MiB
  pingInterval: 40s
  pongTimeout: 20s
  messagesPerSecond: 10
  burst: 20
  maxMetadata: 1KiB
  maxChannels: 8
  maxConnectionsPerIP: -1
  maxConnectionsPerUser: 4
  allowedOrigins: [a.example]
appConfig:
  main:
    websocket: { readLimit: 1MiB, maxConnectionsPerUser: -1, allowedOrigins: [] }
`

// TestNewAppLimits checks that Env.NewApp runs an app with the limits of
// mega.yaml (every key; the app's section over the global one over the
// defaults), that WithLimits replaces them, and that a channel's limits go
// over the app's.
func TestNewAppLimits(t *testing.T) {
	cfg, err := config.Parse([]byte(limitsYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	global := DefaultLimits() // with every field limitsYAML sets
	global.ReadLimit, global.SendQueue, global.PingInterval, global.PongTimeout = 128<<10, 2<<20, 40*time.Second, 20*time.Second
	global.MessagesPerSecond, global.Burst, global.MaxMetadata, global.MaxChannels = 10, 20, 1<<10, 8
	global.MaxConnectionsPerIP, global.MaxConnectionsPerUser, global.AllowedOrigins = -1, 4, []string{"a.example"}
	main := global
	main.ReadLimit, main.MaxConnectionsPerUser, main.AllowedOrigins = 1<<20, -1, []string{}

	tests := []struct {
		name    string
		cfg     *config.Config
		app     string
		opts    []Option
		channel *Limits
		want    Limits
	}{
		{name: "global section", cfg: cfg, app: "other", want: global},
		{name: "app section over global", cfg: cfg, app: "main", want: main},
		{name: "no mega.yaml", app: "main", want: DefaultLimits()},
		{name: "WithLimits replaces mega.yaml's", cfg: cfg, app: "main", opts: []Option{WithLimits(Limits{Burst: 3})},
			want: func() Limits { l := DefaultLimits(); l.Burst = 3; return l }()},
		{name: "channel over app", cfg: cfg, app: "main", channel: &Limits{ReadLimit: 2048, MaxConnectionsPerIP: 5},
			want: func() Limits { l := main; l.ReadLimit, l.MaxConnectionsPerIP = 2048, 5; return l }()},
		{name: "channel zero fields keep the app's", cfg: cfg, app: "main", channel: &Limits{}, want: main},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			env := NewEnv(tt.app, tt.cfg, zerolog.Nop())
			defer env.Close()
			app := env.NewApp(tt.opts...)
			is.Equal(app.limits.merge(tt.channel), tt.want)
		})
	}
}
