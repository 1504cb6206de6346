package config_test

import (
	"errors"
	"net/netip"
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
			[]string{`database: unknown key (valid: appConfig, apps, logger, metrics, server, services, websocket, wsCluster)`}},
		{"unknown key, short", "server: {port: 80}",
			[]string{`server.port: unknown key (valid: addr, drainDelay, reconnectWindow, shutdownTimeout, trustedProxies)`}},
		{"unknown key in app section", "appConfig: {main: {loger: {level: debug}}}",
			[]string{`appConfig.main.loger: unknown key (did you mean "logger"?)`}},
		{"unknown key in app section, far", "appConfig: {main: {database: {}}}",
			[]string{`appConfig.main.database: unknown key (valid: channels, logger, websocket)`}},

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
		{"drain delay not shorter than the shutdown timeout", "server: {shutdownTimeout: 5s, drainDelay: 5s}",
			[]string{`server.drainDelay: must be shorter than shutdownTimeout (5s), which bounds the drain and the close; got 5s`}},
		{"negative drain delay", "server: {drainDelay: -1s}",
			[]string{`server.drainDelay: must not be negative, got -1s`}},
		{"drain delay without unit", "server: {drainDelay: 5}",
			[]string{`server.drainDelay: must be a duration like "5s" (0 for none), got "5"`}},
		{"reconnect window of zero", "server: {reconnectWindow: 0s}",
			[]string{`server.reconnectWindow: must be a positive duration`}},
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

		// server.trustedProxies
		{"trusted proxies", "server: {trustedProxies: [10.0.0.0/8, '192.168.1.7', 'fd00::/8', '::1']}", nil},
		{"trusted proxies empty", "server: {trustedProxies: []}", nil},
		{"trusted proxy not an address", "server: {trustedProxies: [10.0.0.0/8, proxy.internal, '10.0.0.0/33']}",
			[]string{
				`server.trustedProxies[1]: "proxy.internal" is not an IP address or CIDR prefix; want a CIDR prefix like "10.0.0.0/8" or an IP address like "10.0.0.1"`,
				`server.trustedProxies[2]: "10.0.0.0/33" is not a valid CIDR prefix; want a CIDR prefix like "10.0.0.0/8" or an IP address like "10.0.0.1"`,
			}},
		{"trusted proxy with zone", "server: {trustedProxies: ['fe80::1%eth0']}",
			[]string{`server.trustedProxies[0]: "fe80::1%eth0" has a zone; want a CIDR prefix like "10.0.0.0/8" or an IP address like "10.0.0.1" without one`}},
		{"trusted proxies not a list", "server: {trustedProxies: 10.0.0.0/8}",
			[]string{`server.trustedProxies: must be a list of CIDR prefixes, got "10.0.0.0/8"`}},
		{"trusted proxy empty item", "server: {trustedProxies: [~]}",
			[]string{`server.trustedProxies[0]: must not be empty`}},
		{"trusted proxy given a mapping", "server: {trustedProxies: [{cidr: 10.0.0.0/8}]}",
			[]string{`server.trustedProxies[0]: must be a CIDR prefix like "10.0.0.0/8" or an IP address, got a mapping`}},

		// metrics
		{"metrics off", "metrics: {enabled: false}", nil},
		{"metrics all keys", "metrics: {enabled: true, path: /internal/metrics, addr: '127.0.0.1:9090'}", nil},
		{"metrics empty addr", "metrics: {addr: ''}", nil},
		{"metrics enabled not a bool", "metrics: {enabled: yes}",
			[]string{`metrics.enabled: must be true or false, got "yes"`}},
		{"metrics path without slash", "metrics: {path: metrics}",
			[]string{`metrics.path: must start with "/", like "/metrics", got "metrics"`}},
		{"metrics path with query", "metrics: {path: '/metrics?x=1'}",
			[]string{`metrics.path: must be a plain URL path without spaces, "?" or "#", like "/metrics", got "/metrics?x=1"`}},
		{"metrics addr without port", "metrics: {addr: localhost}",
			[]string{`metrics.addr: must be host:port like ":8080", got "localhost"`}},
		{"metrics addr port too big", "metrics: {addr: ':99999'}",
			[]string{`metrics.addr: port must be a number from 0 to 65535, got "99999"`}},
		{"metrics addr on the server port", "server: {addr: ':8080'}\nmetrics: {addr: '0.0.0.0:8080'}",
			[]string{`metrics.addr: must not be the port of server.addr (:8080); leave it empty to serve metrics on the main listener`}},
		{"metrics addr same port, other host", "server: {addr: '127.0.0.1:8080'}\nmetrics: {addr: '10.0.0.1:8080'}", nil},
		{"metrics and server both on free ports", "server: {addr: ':0'}\nmetrics: {addr: ':0'}", nil},
		{"metrics unknown key", "metrics: {port: 9090}",
			[]string{`metrics.port: unknown key (valid: addr, enabled, path)`}},
		// channels
		{"history", "wsCluster: {bus: main}\nservices: {buses: {main: {driver: nats, url: embedded, storeDir: tmp/js}}}\nappConfig: {main: {channels: {/ws/chat: {history: {size: 100, ttl: 10m, maxBytes: 1MiB, replicas: 1}}}}}", nil},
		{"history off needs no cluster", "appConfig: {main: {channels: {/ws/chat: {history: {enabled: false}}}}}", nil},
		{"history needs a cluster", "appConfig: {main: {channels: {/ws/chat: {history: {size: 10}}}}}",
			[]string{`appConfig.main.channels./ws/chat.history: needs a wsCluster section: history is kept in NATS JetStream on the wsCluster's bus`}},
		{"history values", "wsCluster: {bus: main}\nservices: {buses: {main: {driver: nats, url: embedded}}}\nappConfig: {main: {channels: {/ws/chat: {history: {size: 0, ttl: soon, replicas: 7, keep: 1}}}}}",
			[]string{
				`appConfig.main.channels./ws/chat.history.keep: unknown key (valid: enabled, maxBytes, replicas, size, ttl)`,
				`appConfig.main.channels./ws/chat.history.replicas: must be at most 5, got 7`,
				`appConfig.main.channels./ws/chat.history.size: must be at least 1, got 0`,
				`appConfig.main.channels./ws/chat.history.ttl: must be a duration like "10s", got "soon"`,
			}},
		{"channel namespace", "appConfig: {main: {channels: {chat: {}}}}",
			[]string{`appConfig.main.channels.chat: is not a namespace: a channel's namespace is its WebSocket path, starting with /`}},
		{"storeDir with an external bus", "services: {buses: {main: {driver: nats, url: 'nats://a:4222', storeDir: x}}}",
			[]string{`services.buses.main.storeDir: is only for url: embedded; an external NATS keeps JetStream's files where its own config says (jetstream { store_dir: ... })`}},
		{"metrics is global-only", "appConfig: {main: {metrics: {enabled: false}}}",
			[]string{`appConfig.main.metrics: metrics is global-only; move it to the top level of mega.yaml`}},

		// logger
		{"access log off", "logger: {accessLog: false}", nil},
		{"access log per app", "appConfig: {main: {logger: {accessLog: false}}}", nil},
		{"access log not a bool", "logger: {accessLog: 'off'}",
			[]string{`logger.accessLog: must be true or false, got "off"`}},
		{"access log given a list", "appConfig: {main: {logger: {accessLog: [true]}}}",
			[]string{`appConfig.main.logger.accessLog: must be true or false, got a list`}},
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
		{"connections per IP 0", "websocket: {maxConnectionsPerIP: 0}",
			[]string{`websocket.maxConnectionsPerIP: must not be 0, which used to mean unlimited: write -1 for unlimited, or leave the key out for the default (256)`}},
		{"connections per user 0 in an app section", "appConfig: {main: {websocket: {maxConnectionsPerUser: 0}}}",
			[]string{`appConfig.main.websocket.maxConnectionsPerUser: must not be 0, which used to mean unlimited: write -1 for unlimited, or leave the key out for the global websocket.maxConnectionsPerUser (default 32)`}},
		{"connections per IP below -1", "websocket: {maxConnectionsPerIP: -2}",
			[]string{`websocket.maxConnectionsPerIP: must be a whole number, at least 1, or -1 for unlimited, got -2`}},
		{"ping interval", "websocket: {pingInterval: 0s}",
			[]string{`websocket.pingInterval: must be a positive duration`}},
		{"pong not shorter than ping", "websocket: {pongTimeout: 25s}",
			[]string{`websocket.pongTimeout: must be shorter than pingInterval (25s), got 25s`}},
		{"ping not longer than pong", "websocket: {pingInterval: 10s}",
			[]string{`websocket.pingInterval: must be longer than pongTimeout (15s), got 10s`}},
		{"origin pattern", "websocket: {allowedOrigins: ['example.com', '[a-']}",
			[]string{`websocket.allowedOrigins[1]: "[a-" is not a valid origin pattern (path.Match syntax, e.g. "*.example.com")`}},
		{"origin pattern with a trailing slash", "websocket: {allowedOrigins: ['https://app.example.com/', '*.example.com']}",
			[]string{`websocket.allowedOrigins[0]: "https://app.example.com/" can never match: an origin is matched as "host" or "scheme://host", without a path or trailing slash; write "app.example.com" (any scheme) or "https://app.example.com" (https only)`}},
		{"origin pattern in an app section", "appConfig: {main: {websocket: {allowedOrigins: ['example.com/app']}}}",
			[]string{`appConfig.main.websocket.allowedOrigins[0]: "example.com/app" can never match: an origin is matched as "host" or "scheme://host", without a path or trailing slash; write "example.com"`}},
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

func TestCheckOrigin(t *testing.T) {
	const shape = `can never match: an origin is matched as "host" or "scheme://host", without a path or trailing slash; `
	tests := []struct {
		pattern string
		want    string // the error, "" for a pattern that can match
	}{
		{"app.example.com", ""},
		{"*.example.com", ""},
		{"*", ""},
		{"localhost:3000", ""},
		{"localhost:*", ""},
		{"https://app.example.com", ""},
		{"HTTPS://App.Example.com", ""},
		{"*://example.com", ""},
		{`\[::1\]:3000`, ""},
		{"", `"" is not a valid origin pattern (path.Match syntax, e.g. "*.example.com")`},
		{"[a-", `"[a-" is not a valid origin pattern (path.Match syntax, e.g. "*.example.com")`},
		{"https://app.example.com/", `"https://app.example.com/" ` + shape + `write "app.example.com" (any scheme) or "https://app.example.com" (https only)`},
		{"https://app.example.com/chat", `"https://app.example.com/chat" ` + shape + `write "app.example.com" (any scheme) or "https://app.example.com" (https only)`},
		{"app.example.com/", `"app.example.com/" ` + shape + `write "app.example.com"`},
		{"*.example.com/ws/chat", `"*.example.com/ws/chat" ` + shape + `write "*.example.com"`},
		{"https:/app.example.com", `"https:/app.example.com" ` + shape + `write "app.example.com" (any scheme) or "https://app.example.com" (https only)`},
		{"http:app.example.com", `"http:app.example.com" ` + shape + `write "app.example.com" (any scheme) or "http://app.example.com" (http only)`},
		{"/", `"/" ` + shape + `write a host pattern like "app.example.com"`},
		{"https://", `"https://" can never match: write a host pattern like "app.example.com", or "scheme://host" like "https://app.example.com"`},
		{"://app.example.com", `"://app.example.com" can never match: write a host pattern like "app.example.com", or "scheme://host" like "https://app.example.com"`},
		{" app.example.com", `" app.example.com" can never match: an origin has no whitespace; write "app.example.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			is := is.New(t)
			err := config.CheckOrigin(tt.pattern)
			if tt.want == "" {
				is.NoErr(err)
				return
			}
			is.True(err != nil)
			is.Equal(err.Error(), tt.want)
		})
	}
}

func TestCheckDatabases(t *testing.T) {
	const add = `; add it, e.g. `
	tests := []struct {
		name string
		src  string
		uses []config.DatabaseUse
		want string
	}{
		{"configured", "services: {databases: {main: {driver: sqlite, dsn: x}}}",
			[]config.DatabaseUse{{App: "main", Name: "main", At: "apps/main/app.go:3"}}, ""},
		{"none used", "", nil, ""},
		{"missing, at a place", "",
			[]config.DatabaseUse{{App: "main", Name: "main", At: "apps/main/app.go:13"}},
			`services.databases.main: no such database, but app "main" opens it at apps/main/app.go:13 (have: none)` + add + `main: { driver: sqlite, dsn: "file:data/main.db" }`},
		{"missing, at run time", "services: {databases: {b: {driver: sqlite, dsn: x}, a: {driver: sqlite, dsn: x}}}",
			[]config.DatabaseUse{{App: "blog", Name: "posts"}},
			`services.databases.posts: no such database, but app "blog" opens it (have: a, b)` + add + `posts: { driver: sqlite, dsn: "file:data/posts.db" }`},
		{"once per app and name", "",
			[]config.DatabaseUse{{App: "main", Name: "x", At: "a.go:1"}, {App: "main", Name: "x", At: "b.go:2"}, {App: "blog", Name: "x", At: "c.go:3"}},
			`services.databases.x: no such database, but app "blog" opens it at c.go:3 (have: none)` + add + `x: { driver: sqlite, dsn: "file:data/x.db" }` + "\n" +
				`services.databases.x: no such database, but app "main" opens it at a.go:1 (have: none)` + add + `x: { driver: sqlite, dsn: "file:data/x.db" }`},
		{"a name that cannot be configured", "",
			[]config.DatabaseUse{{App: "main", Name: "My DB"}},
			`services.databases: app "main" opens database "My DB", which is not a valid database name (use lowercase letters, digits, "-" and "_", starting with a letter)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			c, err := config.Parse([]byte(tt.src), nil)
			is.NoErr(err)
			err = c.CheckDatabases(tt.uses)
			if tt.want == "" {
				is.NoErr(err)
				return
			}
			is.True(errors.Is(err, config.ErrInvalid))
			is.Equal(err.Error(), tt.want)
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	is := is.New(t)
	c, err := config.Parse([]byte("server: {trustedProxies: [10.1.2.3/8, '192.168.1.7', 'fd00::/8', '::ffff:172.16.0.1']}"), nil)
	is.NoErr(err)
	is.Equal(c.Server.TrustedProxies, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), // masked
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("172.16.0.1/32"), // IPv4-mapped: the IPv4 address
	})
	tests := []struct {
		addr    string
		trusted bool
	}{
		{"10.200.0.1", true},
		{"11.0.0.1", false},
		{"192.168.1.7", true},
		{"192.168.1.8", false},
		{"fd12::1", true},
		{"fe80::1", false},
		{"::ffff:10.0.0.9", true}, // how a dual-stack listener may report an IPv4 peer
		{"172.16.0.1", true},
	}
	for _, tt := range tests {
		is.Equal(c.Server.Trusted(netip.MustParseAddr(tt.addr)), tt.trusted) // tt.addr
	}
	is.True(!config.Default().Server.Trusted(netip.MustParseAddr("127.0.0.1"))) // none by default
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", false},
		{"10.9.8.7/8", "10.0.0.0/8", false},
		{"10.0.0.1", "10.0.0.1/32", false},
		{" 10.0.0.1 ", "10.0.0.1/32", false},
		{"::1", "::1/128", false},
		{"2001:db8::/32", "2001:db8::/32", false},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"::ffff:10.0.0.1", "10.0.0.1/32", false},
		{"0.0.0.0/0", "0.0.0.0/0", false},
		{"::ffff:0:0/64", "", true},
		{"10.0.0.0/33", "", true},
		{"10.0.0", "", true},
		{"fe80::1%eth0", "", true},
		{"", "", true},
		{"example.com", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			is := is.New(t)
			got, err := config.ParsePrefix(tt.in)
			is.Equal(err != nil, tt.wantErr)
			if !tt.wantErr {
				is.Equal(got.String(), tt.want)
			}
		})
	}
}

func TestMetricsAndAccessLog(t *testing.T) {
	is := is.New(t)
	src := `
logger: {accessLog: "${ACCESS_LOG:-true}"}
metrics: {enabled: "${METRICS:-true}", path: /internal/metrics, addr: "${METRICS_ADDR:-}"}
apps: [main, admin]
appConfig: {admin: {logger: {accessLog: false}}}
`
	c, err := config.Parse([]byte(src), env(nil))
	is.NoErr(err)
	is.Equal(c.Metrics, config.Metrics{Enabled: true, Path: "/internal/metrics", Addr: ""})
	is.True(c.Logger.AccessLog)
	is.True(c.App("main").Logger.AccessLog)
	is.True(!c.App("admin").Logger.AccessLog) // the app's override

	c, err = config.Parse([]byte(src), env(map[string]string{"ACCESS_LOG": "false", "METRICS": "False", "METRICS_ADDR": "127.0.0.1:9090"}))
	is.NoErr(err)
	is.Equal(c.Metrics, config.Metrics{Enabled: false, Path: "/internal/metrics", Addr: "127.0.0.1:9090"})
	is.True(!c.Logger.AccessLog)
	is.True(!c.App("main").Logger.AccessLog)
}

func TestAllErrorsAtOnce(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile("testdata/bad.yaml")
	is.NoErr(err)
	_, err = config.Parse(data, env(nil))
	is.True(errors.Is(err, config.ErrInvalid))
	want := `appConfig.main.websocket.allowedOrigins[0]: "https://app.example.com/" can never match: an origin is matched as "host" or "scheme://host", without a path or trailing slash; write "app.example.com" (any scheme) or "https://app.example.com" (https only) (line 24)
appConfig.main.wsCluster: wsCluster is global-only; move it to the top level of mega.yaml (line 23)
apps[1]: "Blog" is not a valid app name (use lowercase letters, digits, "-" and "_", starting with a letter) (line 6)
apps[2]: app "main" is listed twice (line 6)
logger.level: must be "debug", "info", "warn" or "error", got "verbose" (line 5)
metrics.enabled: must be true or false, got "maybe" (line 25)
metrics.path: must start with "/", like "/metrics", got "metrics" (line 25)
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
