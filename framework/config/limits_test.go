package config_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/config"
)

// limitCase is one value of one key of a websocket section.
type limitCase struct {
	key, value string
	want       config.Limits
	problem    string
}

// limitCases are good and bad values of every key of a websocket section.
// want is the section as read (zero fields: not set); problem is the one
// problem reported at websocket.<key>, "" for none.
var limitCases = []limitCase{
	{key: "readLimit", value: "1KiB", want: config.Limits{ReadLimit: 1024}},
	{key: "readLimit", value: "2048", want: config.Limits{ReadLimit: 2048}},
	{key: "readLimit", value: "16MiB", want: config.Limits{ReadLimit: 16 << 20}},
	{key: "readLimit", value: "17MiB", problem: `must be at most 16MiB, got "17MiB"`},
	{key: "readLimit", value: "0", problem: "must be more than 0 bytes"},
	{key: "readLimit", value: "1.5KiB", problem: `must be a size like "64KiB" or a number of bytes, got "1.5KiB"`},

	{key: "sendQueue", value: "2 MiB", want: config.Limits{SendQueue: 2 << 20}},
	{key: "sendQueue", value: "64MB", want: config.Limits{SendQueue: 64_000_000}},
	{key: "sendQueue", value: "-1", problem: `must be a size like "64KiB" or a number of bytes, got "-1"`},
	{key: "sendQueue", value: "0B", problem: "must be more than 0 bytes"},

	{key: "pingInterval", value: "1m", want: config.Limits{PingInterval: time.Minute}},
	{key: "pingInterval", value: "10", problem: `must be a duration like "10s", got "10"`},
	{key: "pingInterval", value: "0s", problem: "must be a positive duration"},

	{key: "pongTimeout", value: "500ms", want: config.Limits{PongTimeout: 500 * time.Millisecond}},
	{key: "pongTimeout", value: "-5s", problem: "must be a positive duration"},
	{key: "pongTimeout", value: "1m", problem: "must be shorter than pingInterval (25s), got 1m0s"},

	{key: "messagesPerSecond", value: "7", want: config.Limits{MessagesPerSecond: 7}},
	{key: "messagesPerSecond", value: "0.5", problem: `must be a whole number, got "0.5"`},
	{key: "messagesPerSecond", value: "0", problem: "must be at least 1, got 0"},

	{key: "burst", value: "1", want: config.Limits{Burst: 1}},
	{key: "burst", value: "-3", problem: "must be at least 1, got -3"},

	{key: "maxMetadata", value: "8KiB", want: config.Limits{MaxMetadata: 8 << 10}},
	{key: "maxMetadata", value: "512", want: config.Limits{MaxMetadata: 512}},
	{key: "maxMetadata", value: "lots", problem: `must be a size like "64KiB" or a number of bytes, got "lots"`},
	{key: "maxMetadata", value: "0", problem: "must be more than 0 bytes"},

	{key: "maxChannels", value: "64", want: config.Limits{MaxChannels: 64}},
	{key: "maxChannels", value: "0", problem: "must be at least 1, got 0"},
	{key: "maxChannels", value: "[1]", problem: "must be a whole number, got a list"},

	{key: "maxConnectionsPerIP", value: "1", want: config.Limits{MaxConnectionsPerIP: 1}},
	{key: "maxConnectionsPerIP", value: "-1", want: config.Limits{MaxConnectionsPerIP: config.Unlimited}},
	{key: "maxConnectionsPerIP", value: "0",
		problem: "must not be 0, which used to mean unlimited: write -1 for unlimited, or leave the key out for the default (256)"},
	{key: "maxConnectionsPerIP", value: "-2", problem: "must be a whole number, at least 1, or -1 for unlimited, got -2"},
	{key: "maxConnectionsPerIP", value: "many", problem: `must be a whole number, at least 1, or -1 for unlimited, got "many"`},

	{key: "maxConnectionsPerUser", value: "3", want: config.Limits{MaxConnectionsPerUser: 3}},
	{key: "maxConnectionsPerUser", value: "-1", want: config.Limits{MaxConnectionsPerUser: config.Unlimited}},
	{key: "maxConnectionsPerUser", value: "0",
		problem: "must not be 0, which used to mean unlimited: write -1 for unlimited, or leave the key out for the default (32)"},

	{key: "allowedOrigins", value: "[example.com, 'https://*.example.com']",
		want: config.Limits{AllowedOrigins: []string{"example.com", "https://*.example.com"}}},
	{key: "allowedOrigins", value: "[]", want: config.Limits{AllowedOrigins: []string{}}},
	{key: "allowedOrigins", value: "example.com", problem: `must be a list of origin host patterns, got "example.com"`},
}

// TestLimitKeys parses every case of every key in the global websocket
// section and in an app's, and checks that every field of Limits has a
// key with good and bad cases.
func TestLimitKeys(t *testing.T) {
	for _, c := range limitCases {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			is := is.New(t)
			global := "websocket: {" + c.key + ": " + c.value + "}\n"
			if c.problem != "" {
				is.Equal(problems(t, global, nil), []string{"websocket." + c.key + ": " + c.problem})
				return
			}
			cfg, err := config.Parse([]byte(global), nil)
			is.NoErr(err)
			is.Equal(cfg.WebSocket, config.DefaultLimits().With(c.want)) // the global section over the defaults

			cfg, err = config.Parse([]byte("appConfig: {main: {websocket: {"+c.key+": "+c.value+"}}}\n"), nil)
			is.NoErr(err)
			is.Equal(cfg.AppConfig["main"].WebSocket, c.want)                        // an app section as written
			is.Equal(cfg.App("main").WebSocket, config.DefaultLimits().With(c.want)) // over the global section
		})
	}

	t.Run("every limit has a key and cases", func(t *testing.T) {
		is := is.New(t)
		typ := reflect.TypeFor[config.Limits]()
		for i := range typ.NumField() {
			key := typ.Field(i).Tag.Get("yaml")
			good := slices.ContainsFunc(limitCases, func(c limitCase) bool { return c.key == key && c.problem == "" })
			bad := slices.ContainsFunc(limitCases, func(c limitCase) bool { return c.key == key && c.problem != "" })
			if !good || !bad {
				t.Errorf("Limits.%s (key %q) needs a good and a bad case in limitCases", typ.Field(i).Name, key)
			}
		}
		is.Equal(problems(t, "websocket: {maxChanels: 1}", nil), []string{`websocket.maxChanels: unknown key (did you mean "maxChannels"?)`})
	})
}

// TestLimitsWith shows the one merge: a zero field keeps the value of the
// level above, global → app → channel.
func TestLimitsWith(t *testing.T) {
	def := config.DefaultLimits()
	tests := []struct {
		name       string
		base, over config.Limits
		want       func(l *config.Limits)
	}{
		{name: "nothing set keeps everything", base: def, want: func(*config.Limits) {}},
		{name: "set fields replace",
			base: def, over: config.Limits{ReadLimit: 1 << 20, PongTimeout: time.Second, MessagesPerSecond: 2.5, MaxChannels: 4},
			want: func(l *config.Limits) {
				l.ReadLimit, l.PongTimeout, l.MessagesPerSecond, l.MaxChannels = 1<<20, time.Second, 2.5, 4
			}},
		{name: "unlimited caps replace",
			base: def, over: config.Limits{MaxConnectionsPerIP: config.Unlimited, MaxConnectionsPerUser: -5},
			want: func(l *config.Limits) { l.MaxConnectionsPerIP, l.MaxConnectionsPerUser = config.Unlimited, -5 }},
		{name: "a zero cap keeps unlimited",
			base: config.Limits{MaxConnectionsPerIP: config.Unlimited}, over: config.Limits{Burst: 3},
			want: func(l *config.Limits) { l.Burst = 3 }},
		{name: "negative sizes, durations and counts are not set",
			base: def, over: config.Limits{ReadLimit: -1, SendQueue: -1, PingInterval: -time.Second, MessagesPerSecond: -1, Burst: -1, MaxMetadata: -1, MaxChannels: -1},
			want: func(*config.Limits) {}},
		{name: "nil origins keep, empty origins replace",
			base: config.Limits{AllowedOrigins: []string{"a.example"}}, over: config.Limits{AllowedOrigins: []string{}},
			want: func(l *config.Limits) { l.AllowedOrigins = []string{} }},
		{name: "origins replace",
			base: config.Limits{AllowedOrigins: []string{"a.example"}}, over: config.Limits{AllowedOrigins: []string{"b.example"}},
			want: func(l *config.Limits) { l.AllowedOrigins = []string{"b.example"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			want := tt.base
			want.AllowedOrigins = slices.Clone(want.AllowedOrigins)
			tt.want(&want)
			is.Equal(tt.base.With(tt.over), want)
		})
	}

	t.Run("global, app, channel", func(t *testing.T) {
		is := is.New(t)
		app := config.Limits{ReadLimit: 1 << 20, MaxConnectionsPerIP: config.Unlimited, AllowedOrigins: []string{"a.example"}}
		channel := config.Limits{ReadLimit: 2048, Burst: 5}
		got := def.With(app).With(channel)
		want := def
		want.ReadLimit, want.Burst, want.MaxConnectionsPerIP, want.AllowedOrigins = 2048, 5, config.Unlimited, []string{"a.example"}
		is.Equal(got, want)

		got.AllowedOrigins[0] = "changed" // the result owns its slice
		is.Equal(app.AllowedOrigins[0], "a.example")
	})
}

// TestLimitsFromYAML reads global, app and channel levels from one file: a
// key an app leaves out keeps the global value, and -1 carries through.
func TestLimitsFromYAML(t *testing.T) {
	is := is.New(t)
	c, err := config.Parse([]byte(`apps: [main, admin]
websocket: { readLimit: 128KiB, maxConnectionsPerIP: -1, maxMetadata: 1KiB }
appConfig:
  admin:
    websocket: { readLimit: 1MiB, maxConnectionsPerUser: -1, maxChannels: 8 }
`), nil)
	is.NoErr(err)
	def := config.DefaultLimits()

	main := c.App("main").WebSocket
	is.Equal(main.ReadLimit, int64(128<<10))
	is.Equal(main.MaxConnectionsPerIP, config.Unlimited)
	is.Equal(main.MaxConnectionsPerUser, def.MaxConnectionsPerUser)
	is.Equal(main.MaxMetadata, 1<<10)
	is.Equal(main.MaxChannels, def.MaxChannels)

	admin := c.App("admin").WebSocket
	is.Equal(admin.ReadLimit, int64(1<<20))
	is.Equal(admin.MaxConnectionsPerIP, config.Unlimited) // inherited
	is.Equal(admin.MaxConnectionsPerUser, config.Unlimited)
	is.Equal(admin.MaxMetadata, 1<<10) // inherited
	is.Equal(admin.MaxChannels, 8)
	is.Equal(admin.SendQueue, def.SendQueue)
}

// TestDefaultLimits checks the defaults the tags declare, and that each call
// returns a value of its own.
func TestDefaultLimits(t *testing.T) {
	is := is.New(t)
	l := config.DefaultLimits()
	is.Equal(l, config.Limits{
		ReadLimit: 64 << 10, SendQueue: 1 << 20, PingInterval: 25 * time.Second, PongTimeout: 15 * time.Second,
		MessagesPerSecond: 50, Burst: 100, MaxMetadata: 4 << 10, MaxChannels: 32,
		MaxConnectionsPerIP: 256, MaxConnectionsPerUser: 32,
	})
	l.ReadLimit = 1
	is.Equal(config.DefaultLimits().ReadLimit, int64(64<<10))
}

// BenchmarkLimitsWith measures the merge a connection pays when its
// channel has limits of its own (WithChannelLimits).
func BenchmarkLimitsWith(b *testing.B) {
	base, over := config.DefaultLimits(), config.Limits{ReadLimit: 2048, Burst: 5}
	for b.Loop() {
		base = base.With(over)
	}
}
