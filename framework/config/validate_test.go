package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/config"
)

// withBus prefixes src with a valid bus named main.
const withBus = "services: {buses: {main: {driver: nats, url: embedded}}}\n"

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// wsCluster
		{"roster driver", withBus + "wsCluster: {bus: main, roster: {driver: redis}}",
			[]string{`wsCluster.roster.driver: must be "nats" or "none", got "redis"`}},
		{"roster driver none is fine", withBus + "wsCluster: {bus: main, roster: {driver: none}}", nil},
		{"cluster bus unknown", withBus + "wsCluster: {bus: x}",
			[]string{`wsCluster.bus: no bus "x" in services.buses (have: main)`}},
		{"cluster bus unknown, several buses sorted",
			"services: {buses: {zeta: {driver: nats, url: embedded}, alpha: {driver: nats, url: embedded}}}\nwsCluster: {bus: x}",
			[]string{`wsCluster.bus: no bus "x" in services.buses (have: alpha, zeta)`}},
		{"cluster bus with no buses", "wsCluster: {bus: x}",
			[]string{`wsCluster.bus: no bus "x" in services.buses (have: none)`}},
		{"cluster bus declared after wsCluster", "wsCluster: {bus: main}\n" + withBus, nil},
		{"cluster bus missing", withBus + "wsCluster: {subjectPrefix: mega.ws}",
			[]string{`wsCluster.bus: is required; name a bus from services.buses (have: main)`}},
		{"cluster bus empty", withBus + `wsCluster: {bus: ""}`,
			[]string{`wsCluster.bus: must name a bus from services.buses`}},
		{"subject prefix", withBus + `wsCluster: {bus: main, subjectPrefix: "a b.>"}`,
			[]string{`wsCluster.subjectPrefix: "a b.>" is not a valid NATS subject prefix`}},
		{"subject prefix wildcard", withBus + `wsCluster: {bus: main, subjectPrefix: "mega.*"}`,
			[]string{`wsCluster.subjectPrefix: "mega.*" is not a valid NATS subject prefix`}},
		{"subject prefix empty token", withBus + `wsCluster: {bus: main, subjectPrefix: "mega..ws"}`,
			[]string{`wsCluster.subjectPrefix: "mega..ws" is not a valid NATS subject prefix`}},
		{"subject prefix trailing dot", withBus + `wsCluster: {bus: main, subjectPrefix: "mega."}`,
			[]string{`wsCluster.subjectPrefix: "mega." is not a valid NATS subject prefix`}},
		{"subject prefix tab", withBus + "wsCluster: {bus: main, subjectPrefix: \"mega\\tws\"}",
			[]string{`wsCluster.subjectPrefix: "mega\tws" is not a valid NATS subject prefix`}},
		{"roster ttl zero", withBus + "wsCluster: {bus: main, roster: {ttl: 0s}}",
			[]string{`wsCluster.roster.ttl: must be a positive duration`}},
		{"roster ttl negative", withBus + "wsCluster: {bus: main, roster: {ttl: -5s}}",
			[]string{`wsCluster.roster.ttl: must be a positive duration`}},
		{"roster ttl under a second", withBus + "wsCluster: {bus: main, roster: {ttl: 500ms}}",
			[]string{`wsCluster.roster.ttl: must be at least 1s, got 500ms`}},

		// unknown keys
		{"unknown key, close", "wsClustr: {bus: main}",
			[]string{`wsClustr: unknown key (did you mean "wsCluster"?)`}},
		{"unknown key, case only", "websocket: {readlimit: 1KiB}",
			[]string{`websocket.readlimit: unknown key (did you mean "readLimit"?)`}},
		{"unknown key, nested", "server: {adr: ':80'}",
			[]string{`server.adr: unknown key (did you mean "addr"?)`}},
		{"unknown key, far", "database: {}",
			[]string{`database: unknown key (valid: appConfig, apps, logger, server, services, websocket, wsCluster)`}},
		{"unknown key, short", "server: {port: 80}",
			[]string{`server.port: unknown key (valid: addr, shutdownTimeout)`}},
		{"unknown key in app section", "appConfig: {main: {loger: {level: debug}}}",
			[]string{`appConfig.main.loger: unknown key (did you mean "logger"?)`}},
		{"unknown key in app section, far", "appConfig: {main: {metrics: {}}}",
			[]string{`appConfig.main.metrics: unknown key (valid: logger, websocket)`}},

		// YAML types
		{"duration given a list", "server: {shutdownTimeout: [10s]}",
			[]string{`server.shutdownTimeout: must be a duration like "10s", got a list`}},
		{"duration given a mapping", "server: {shutdownTimeout: {s: 10}}",
			[]string{`server.shutdownTimeout: must be a duration like "10s", got a mapping`}},
		{"section given a list", "server: [a]",
			[]string{`server: must be a mapping, got a list`}},
		{"section given a string", "logger: debug",
			[]string{`logger: must be a mapping, got "debug"`}},
		{"list given a string", "apps: main",
			[]string{`apps: must be a list of app names, got "main"`}},
		{"list item given a mapping", "apps: [{name: main}]",
			[]string{`apps[0]: must be an app name, got a mapping`}},
		{"enum given a list", "logger: {level: [info]}",
			[]string{`logger.level: must be "debug", "info", "warn" or "error", got a list`}},
		{"file is a list", "- server",
			[]string{`the file must be a mapping of settings (server:, apps:, ...), got a list`}},
		{"keys must be names", "server: {[a]: 1}",
			[]string{`server: keys must be plain names, got a list`}},
		{"key set twice", "server: {addr: ':1'}\nserver: {addr: ':2'}",
			[]string{`server: key is set twice (first on line 1)`}},
		{"not YAML", "server: {addr: ':1'\n",
			[]string{`not valid YAML: did not find expected ',' or '}'`}},
		{"unquoted reference in flow style", "apps: [${A:-main}]",
			[]string{`not valid YAML: did not find expected ',' or ']' (values with ${...} inside { } or [ ] must be quoted: "${VAR}")`}},
		{"two documents", "apps: [main]\n---\napps: [blog]\n",
			[]string{`the file must hold one YAML document; remove everything from the second "---" on`}},

		// server
		{"duration", "server: {shutdownTimeout: ten}",
			[]string{`server.shutdownTimeout: must be a duration like "10s", got "ten"`}},
		{"duration without unit", "server: {shutdownTimeout: 10}",
			[]string{`server.shutdownTimeout: must be a duration like "10s", got "10"`}},
		{"addr without port", "server: {addr: localhost}",
			[]string{`server.addr: must be host:port like ":8080", got "localhost"`}},
		{"addr port too big", "server: {addr: ':70000'}",
			[]string{`server.addr: port must be a number from 0 to 65535, got "70000"`}},
		{"addr port not a number", "server: {addr: 'localhost:http'}",
			[]string{`server.addr: port must be a number from 0 to 65535, got "http"`}},
		{"addr empty", "server: {addr: ''}",
			[]string{`server.addr: must be host:port like ":8080", got ""`}},
		{"addr ipv6", "server: {addr: '[::1]:0'}", nil},

		// logger
		{"log level", "logger: {level: verbose}",
			[]string{`logger.level: must be "debug", "info", "warn" or "error", got "verbose"`}},
		{"log format", "logger: {format: xml}",
			[]string{`logger.format: must be "console" or "json", got "xml"`}},

		// apps
		{"app name", "apps: [main, Blog]",
			[]string{`apps[1]: "Blog" is not a valid app name (use lowercase letters, digits, "-" and "_", starting with a letter)`}},
		{"app name starts with digit", "apps: [1st]",
			[]string{`apps[0]: "1st" is not a valid app name (use lowercase letters, digits, "-" and "_", starting with a letter)`}},
		{"app listed twice", "apps: [main, blog, main]",
			[]string{`apps[2]: app "main" is listed twice`}},
		{"apps empty", "apps: []",
			[]string{`apps: must list at least one app`}},
		{"app item empty", "apps: [main, ~]",
			[]string{`apps[1]: must not be empty`}},

		// buses
		{"bus driver", "services: {buses: {main: {driver: kafka, url: embedded}}}",
			[]string{`services.buses.main.driver: must be "nats", got "kafka"`}},
		{"bus url scheme", "services: {buses: {main: {driver: nats, url: 'http://example.com'}}}",
			[]string{`services.buses.main.url: "http://example.com" is not a NATS server URL; want "embedded" or comma-separated nats://, tls://, ws:// or wss:// URLs`}},
		{"bus url without host", "services: {buses: {main: {driver: nats, url: 'nats://:4222'}}}",
			[]string{`services.buses.main.url: "nats://:4222" is not a NATS server URL; want "embedded" or comma-separated nats://, tls://, ws:// or wss:// URLs`}},
		{"bus url hides password", "services: {buses: {main: {driver: nats, url: 'http://u:secret@h'}}}",
			[]string{`services.buses.main.url: "http://u:xxxxx@h" is not a NATS server URL; want "embedded" or comma-separated nats://, tls://, ws:// or wss:// URLs`}},
		{"bus url empty entry", "services: {buses: {main: {driver: nats, url: 'nats://a:4222,'}}}",
			[]string{`services.buses.main.url: has an empty entry; remove the extra comma`}},
		{"bus url list", "services: {buses: {main: {driver: nats, url: 'nats://a:4222, tls://b, ws://c:80, wss://d'}}}", nil},
		{"bus fields required", "services: {buses: {main: {}}}",
			[]string{
				`services.buses.main.driver: is required; use "nats"`,
				`services.buses.main.url: is required; use "embedded" or nats:// URLs`,
			}},
		{"bus name", "services: {buses: {Main: {driver: nats, url: embedded}}}",
			[]string{`services.buses.Main: "Main" is not a valid bus name (use lowercase letters, digits, "-" and "_", starting with a letter)`}},

		// databases
		{"database driver", "services: {databases: {main: {driver: postgres, dsn: x}}}",
			[]string{`services.databases.main.driver: must be "sqlite", got "postgres"`}},
		{"database dsn empty", "services: {databases: {main: {driver: sqlite, dsn: ''}}}",
			[]string{`services.databases.main.dsn: must not be empty (e.g. "file:data/app.db")`}},
		{"database fields required", "services: {databases: {main: {}}}",
			[]string{
				`services.databases.main.driver: is required; use "sqlite"`,
				`services.databases.main.dsn: is required; e.g. "file:data/app.db"`,
			}},

		// websocket
		{"read limit too big", "websocket: {readLimit: 32MiB}",
			[]string{`websocket.readLimit: must be at most 16MiB, got "32MiB"`}},
		{"read limit 16MiB is fine", "websocket: {readLimit: 16MiB}", nil},
		{"read limit zero", "websocket: {readLimit: 0}",
			[]string{`websocket.readLimit: must be more than 0 bytes`}},
		{"read limit not a size", "websocket: {readLimit: big}",
			[]string{`websocket.readLimit: must be a size like "64KiB" or a number of bytes, got "big"`}},
		{"read limit unknown unit", "websocket: {readLimit: 1GiB}",
			[]string{`websocket.readLimit: must be a size like "64KiB" or a number of bytes, got "1GiB"`}},
		{"send queue zero", "websocket: {sendQueue: 0B}",
			[]string{`websocket.sendQueue: must be more than 0 bytes`}},
		{"rate zero", "websocket: {messagesPerSecond: 0}",
			[]string{`websocket.messagesPerSecond: must be at least 1, got 0`}},
		{"rate not a number", "websocket: {messagesPerSecond: fast}",
			[]string{`websocket.messagesPerSecond: must be a whole number, got "fast"`}},
		{"burst zero", "websocket: {burst: 0}",
			[]string{`websocket.burst: must be at least 1, got 0`}},
		{"connections per IP negative", "websocket: {maxConnectionsPerIP: -1}",
			[]string{`websocket.maxConnectionsPerIP: must be at least 0, got -1`}},
		{"ping interval", "websocket: {pingInterval: 0s}",
			[]string{`websocket.pingInterval: must be a positive duration`}},
		{"pong not shorter than ping", "websocket: {pongTimeout: 25s}",
			[]string{`websocket.pongTimeout: must be shorter than pingInterval (25s), got 25s`}},
		{"ping not longer than pong", "websocket: {pingInterval: 10s}",
			[]string{`websocket.pingInterval: must be longer than pongTimeout (15s), got 10s`}},
		{"origin pattern", "websocket: {allowedOrigins: ['example.com', '[a-']}",
			[]string{`websocket.allowedOrigins[1]: "[a-" is not a valid origin pattern (path.Match syntax, e.g. "*.example.com")`}},
		{"origins not a list", "websocket: {allowedOrigins: example.com}",
			[]string{`websocket.allowedOrigins: must be a list of origin host patterns, got "example.com"`}},

		// appConfig
		{"global-only wsCluster", "appConfig: {main: {wsCluster: {bus: main}}}",
			[]string{`appConfig.main.wsCluster: wsCluster is global-only; move it to the top level of mega.yaml`}},
		{"global-only others", "appConfig: {main: {server: {}, apps: [], services: {}}}",
			[]string{
				`appConfig.main.apps: apps is global-only; move it to the top level of mega.yaml`,
				`appConfig.main.server: server is global-only; move it to the top level of mega.yaml`,
				`appConfig.main.services: services is global-only; move it to the top level of mega.yaml`,
			}},
		{"app override for an app not served", "appConfig: {blog: {logger: {level: debug}}}",
			[]string{`appConfig.blog: no app "blog" in apps (have: main)`}},
		{"app override values are checked", "appConfig: {main: {logger: {level: loud}, websocket: {burst: 0}}}",
			[]string{
				`appConfig.main.logger.level: must be "debug", "info", "warn" or "error", got "loud"`,
				`appConfig.main.websocket.burst: must be at least 1, got 0`,
			}},
		{"app override ping checked against merged settings", "appConfig: {main: {websocket: {pingInterval: 10s}}}",
			[]string{`appConfig.main.websocket.pingInterval: must be longer than pongTimeout (15s), got 10s`}},
		{"app override pong fixes global ping", "websocket: {pingInterval: 30s}\nappConfig: {main: {websocket: {pongTimeout: 20s}}}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(problems(t, tt.src, nil), tt.want)
		})
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile("testdata/bad.yaml")
	is.NoErr(err)
	_, err = config.Parse(data, env(nil))
	is.True(errors.Is(err, config.ErrInvalid))
	want := `appConfig.main.wsCluster: wsCluster is global-only; move it to the top level of mega.yaml (line 23)
apps[1]: "Blog" is not a valid app name (use lowercase letters, digits, "-" and "_", starting with a letter) (line 6)
apps[2]: app "main" is listed twice (line 6)
logger.level: must be "debug", "info", "warn" or "error", got "verbose" (line 5)
server.addr: must be host:port like ":8080", got "localhost" (line 3)
server.shutdownTimeout: must be a duration like "10s", got "ten" (line 4)
services.buses.main.url: "http://example.com" is not a NATS server URL; want "embedded" or comma-separated nats://, tls://, ws:// or wss:// URLs (line 9)
services.databases.main.driver: must be "sqlite", got "postgres" (line 11)
services.databases.main.dsn: must not be empty (e.g. "file:data/app.db") (line 11)
websocket.burst: must be at least 1, got 0 (line 14)
websocket.readLimit: must be at most 16MiB, got "32MiB" (line 13)
wsCluster.bus: no bus "x" in services.buses (have: main) (line 18)
wsCluster.roster.driver: must be "nats" or "none", got "redis" (line 20)
wsCluster.roster.ttl: must be a positive duration (line 20)
wsCluster.subjectPrefix: "a b.>" is not a valid NATS subject prefix (line 19)
wsClustr: unknown key (did you mean "wsCluster"?) (line 15)`
	is.Equal(err.Error(), want)
}

func TestErrorsFormat(t *testing.T) {
	is := is.New(t)
	src := "logger:\n  format: xml\n  level: loud\nserver: {shutdownTimeout: ten}\n"
	_, err := config.Parse([]byte(src), nil)
	var errs config.Errors
	is.True(errors.As(err, &errs))
	is.Equal(errs, config.Errors{
		{Path: "logger.format", Message: `must be "console" or "json", got "xml"`, Line: 2},
		{Path: "logger.level", Message: `must be "debug", "info", "warn" or "error", got "loud"`, Line: 3},
		{Path: "server.shutdownTimeout", Message: `must be a duration like "10s", got "ten"`, Line: 4},
	})
	is.Equal(strings.Count(err.Error(), "\n"), 2) // one line per problem

	// Errors sorts itself when printed, whatever order it was built in.
	unsorted := config.Errors{{Path: "b", Message: "x"}, {Path: "a", Message: "z"}, {Path: "a", Message: "y"}, {Message: "file"}}
	is.Equal(unsorted.Error(), "file\na: y\na: z\nb: x")
	is.True(errors.Is(unsorted, config.ErrInvalid))

	// A YAML syntax error keeps its line.
	_, err = config.Parse([]byte("apps: [main\n"), nil)
	is.True(errors.As(err, &errs))
	is.Equal(len(errs), 1)
	is.True(errs[0].Line > 0)
}

func TestCheckApps(t *testing.T) {
	tests := []struct {
		name       string
		src        string
		registered []string
		want       string
	}{
		{"all registered", "apps: [main, blog]", []string{"blog", "main"}, ""},
		{"one missing", "apps: [main, blog]", []string{"main"},
			`apps[1]: app "blog" is not registered (registered: main)`},
		{"nothing registered", "apps: [main]", nil,
			`apps[0]: app "main" is not registered (registered: none)`},
		{"registered listed sorted", "apps: [x]", []string{"zed", "main", "blog"},
			`apps[0]: app "x" is not registered (registered: blog, main, zed)`},
		{"app override for unregistered app", "apps: [main, blog]\nappConfig: {blog: {logger: {level: debug}}}", []string{"main"},
			"appConfig.blog: app \"blog\" is not registered (registered: main)\napps[1]: app \"blog\" is not registered (registered: main)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			c, err := config.Parse([]byte(tt.src), nil)
			is.NoErr(err)
			err = c.CheckApps(tt.registered)
			if tt.want == "" {
				is.NoErr(err)
				return
			}
			is.True(errors.Is(err, config.ErrInvalid))
			is.Equal(err.Error(), tt.want)
		})
	}

	t.Run("hand-built config with override for an unlisted app", func(t *testing.T) {
		is := is.New(t)
		c := config.Default()
		c.AppConfig["blog"] = config.AppOverride{}
		is.Equal(c.CheckApps([]string{"main", "blog"}).Error(), `appConfig.blog: no app "blog" in apps (have: main)`)
	})
}
