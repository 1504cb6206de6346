// Package config loads, expands, defaults and validates mega.yaml, the one
// configuration file of a mega process.
//
// Load reads the file, replaces ${VAR} and ${VAR:-default} references with
// values from the environment, fills in defaults and checks every value. When
// anything is wrong it reports every problem at once, each with its key path
// (for example "wsCluster.roster.driver") and what was expected, so a bad file
// never starts a half-wired server.
package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultPath is the file Load is given when the user does not choose
// another one with --config.
const DefaultPath = "mega.yaml"

// Config is a whole mega.yaml after environment expansion and defaults.
type Config struct {
	// Server is the HTTP listener (key "server").
	Server Server
	// Logger is the global log settings (key "logger").
	Logger Logger
	// Apps names the apps this process serves, in file order (key "apps").
	Apps []string
	// Services holds the named buses and databases (key "services").
	Services Services
	// WebSocket is the global connection limits (key "websocket"), with
	// the defaults filled in.
	WebSocket Limits
	// WSCluster wires the apps' channels into a NATS cluster (key
	// "wsCluster"). It is nil when the key is absent: every instance then
	// works alone.
	WSCluster *WSCluster
	// Metrics configures the Prometheus endpoint (key "metrics"). It is
	// global-only: one endpoint serves every app of the process.
	Metrics Metrics
	// AppConfig holds the per-app overrides, keyed by app name (key
	// "appConfig"). Use App to get an app's effective settings.
	AppConfig map[string]AppOverride
}

// Server configures the HTTP listener shared by all apps of the process.
type Server struct {
	// Addr is the host:port to listen on, e.g. ":8080".
	Addr string
	// ShutdownTimeout bounds a graceful shutdown, the drain included.
	ShutdownTimeout time.Duration
	// DrainDelay is how long a process stopped by SIGTERM/SIGINT keeps
	// serving with /readyz answering 503, so load balancers stop routing
	// to it before its WebSockets close (key "server.drainDelay", default
	// 5s; 0 under mega dev).
	DrainDelay time.Duration
	// ReconnectWindow is the window the closing WebSockets are asked to
	// spread their reconnects over: the 1001 close reason carries
	// "retry=<ms>" (key "server.reconnectWindow", default 10s).
	ReconnectWindow time.Duration
	// TrustedProxies lists the networks of the reverse proxies whose
	// X-Forwarded-For / Forwarded headers name the client (key
	// "server.trustedProxies"). A header from a peer outside every prefix
	// is ignored. Empty (the default) trusts no peer. A bare IP in the
	// file is a single-address prefix (/32 or /128); prefixes are stored
	// masked ("10.1.2.3/8" is 10.0.0.0/8).
	TrustedProxies []netip.Prefix
}

// Trusted reports whether addr is inside one of TrustedProxies. An
// IPv4-mapped IPv6 address (::ffff:10.0.0.1) counts as its IPv4 address.
func (s Server) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Metrics configures the Prometheus text endpoint.
type Metrics struct {
	// Enabled serves the endpoint (default true).
	Enabled bool
	// Path is the URL path of the endpoint, e.g. "/metrics".
	Path string
	// Addr is the host:port of a separate listener for the endpoint. Empty
	// (the default) serves it on the main listener, server.addr.
	Addr string
}

// Logger configures logging.
type Logger struct {
	// Level is "debug", "info", "warn" or "error".
	Level string
	// Format is "console" (human-readable) or "json".
	Format string
	// AccessLog logs one line per HTTP request (default true). WebSocket
	// frames are not HTTP requests: an upgrade is logged once.
	AccessLog bool
}

// Services holds the external services a process can use, by name.
type Services struct {
	// Buses maps a bus name to its settings (key "services.buses").
	Buses map[string]Bus
	// Databases maps a database name to its settings (key "services.databases").
	Databases map[string]Database
}

// Bus is a message bus. The only driver is "nats".
//
// The TLS and authentication settings are for an existing NATS deployment;
// they are refused with URL "embedded". File paths are used as written:
// a relative path is relative to the working directory of the process.
// Load checks that every file exists and holds what it should. An empty
// value counts as not set, so that "${NATS_TOKEN:-}" can leave a setting
// out when its variable is unset.
type Bus struct {
	// Driver is always "nats".
	Driver string
	// URL is "embedded" (start an in-process NATS server on loopback) or a
	// comma-separated list of nats://, tls://, ws:// or wss:// server URLs.
	// A URL may carry a user and password ("nats://u:p@host") or a token
	// ("nats://token@host"); for that server they win over User, Password
	// and Token.
	URL string
	// TLS verifies the servers with a private CA and presents a client
	// certificate (key "tls"). When any of its fields is set, every
	// connection of the bus uses TLS, whatever the URL's scheme.
	TLS BusTLS
	// Credentials is the path of a NATS credentials file (a user JWT and
	// its nkey seed, as written by nsc or nats auth) for decentralized
	// authentication (key "credentials"). It excludes NKey, Token, User
	// and Password.
	Credentials string
	// NKey is the path of a file holding a user nkey seed ("SU...") for
	// nkey authentication (key "nkey").
	NKey string
	// Token is an authentication token (key "token").
	Token Secret
	// User and Password authenticate with a user name and password (keys
	// "user" and "password"); one requires the other.
	User     string
	Password Secret
	// StoreDir is where the embedded server keeps JetStream's files, the
	// message history of channels that keep one (key "storeDir"; default
	// DefaultStoreDir, relative to the working directory). JetStream starts
	// only when an app keeps history. An external NATS keeps its own store:
	// there the key is refused.
	StoreDir string
}

// DefaultStoreDir is where an embedded bus keeps JetStream's files when
// storeDir is not set: next to the default SQLite file, data/app.db.
const DefaultStoreDir = "data/nats"

// BusTLS is the TLS configuration of a bus (key "services.buses.<name>.tls").
// The servers' certificates are always verified.
type BusTLS struct {
	// CA is the path of a PEM file with the CA certificate(s) that signed
	// the servers' certificates (key "ca"). Empty means the system's CAs.
	CA string
	// Cert and Key are the paths of the PEM client certificate and its
	// private key, for servers that require one (mutual TLS; keys "cert"
	// and "key"). One requires the other.
	Cert string
	Key  string
	// ServerName is the name the servers' certificates must carry, when it
	// is not the host in the URL, e.g. when connecting by IP address (key
	// "serverName").
	ServerName string
}

// Enabled reports whether any TLS setting is made.
func (t BusTLS) Enabled() bool { return t != BusTLS{} }

// Secret is a string that never shows in logs or output: formatted with
// fmt (%v, %s, %+v, %#v) or marshalled as text or JSON it reads "xxxxx",
// or "" when empty. Convert it with string() to use the value.
type Secret string

const redacted = "xxxxx"

// String returns "xxxxx", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText returns String, so that encoders never write the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Embedded reports whether the bus is an in-process NATS server.
func (b Bus) Embedded() bool { return b.URL == "embedded" }

// URLs returns the server URLs of a bus, split at commas and trimmed. It
// returns nil for an embedded bus.
func (b Bus) URLs() []string {
	if b.Embedded() {
		return nil
	}
	var urls []string
	for u := range strings.SplitSeq(b.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// Database is a database connection. The only driver is "sqlite".
type Database struct {
	// Driver is always "sqlite".
	Driver string
	// DSN is the driver's data source name, e.g. "file:data/app.db".
	DSN string
}

// WSCluster wires channels and presence across instances over NATS.
type WSCluster struct {
	// Bus names the entry of Services.Buses to use.
	Bus string
	// SubjectPrefix starts every NATS subject; each app adds its name
	// after it ("<prefix>.<app>.…").
	SubjectPrefix string
	// Roster configures the cluster-wide presence roster.
	Roster Roster
}

// Roster configures the cluster-wide presence roster.
type Roster struct {
	// Driver is "nats" (share members across instances) or "none" (each
	// instance only knows its own members).
	Driver string
	// TTL is how long an instance that stops answering keeps its members
	// on the other instances.
	TTL time.Duration
}

// AppOverride is one entry of appConfig: the settings an app changes. Fields
// left unset inherit the global value.
type AppOverride struct {
	// Logger overrides the global logger settings.
	Logger LoggerOverride
	// WebSocket overrides the global connection limits: its zero fields
	// inherit them (see Limits.With).
	WebSocket Limits
	// Channels holds settings of the app's channels by namespace, e.g.
	// "/ws/chat" (key "channels").
	Channels map[string]ChannelOverride
}

// ChannelOverride holds the settings of one channel of an app (key
// "appConfig.<app>.channels.<namespace>"). The app must mount a channel at
// that namespace; boot refuses one it does not.
type ChannelOverride struct {
	// History turns on, tunes or (Enabled: false) turns off the channel's
	// message history; its unset fields keep the values the channel was
	// mounted with (mega.WithHistory), else the defaults.
	History *HistoryOverride
}

// HistoryOverride is a history section (key "history"). A nil field keeps
// the value set in code, else the default.
type HistoryOverride struct {
	// Enabled false turns history off for the channel (default true).
	Enabled *bool
	// Size is how many messages each sub-channel keeps (key "size").
	Size *int
	// TTL is how long a message is kept (key "ttl").
	TTL *time.Duration
	// MaxBytes bounds the bytes the whole channel keeps (key "maxBytes";
	// 0 means no bound besides size and ttl).
	MaxBytes *int64
	// Replicas is how many JetStream servers hold a copy (key "replicas",
	// 1 to 5; more than 1 needs a JetStream cluster).
	Replicas *int
}

// LoggerOverride holds the logger settings an app sets. An empty string
// inherits the global value.
type LoggerOverride struct {
	// Level replaces Logger.Level when not empty.
	Level string
	// Format replaces Logger.Format when not empty.
	Format string
	// AccessLog replaces Logger.AccessLog when not nil.
	AccessLog *bool
}

// AppSettings is what one app actually runs with: the global settings with
// its appConfig override applied.
type AppSettings struct {
	// Logger is the app's effective logger settings.
	Logger Logger
	// WebSocket is the app's effective connection limits.
	WebSocket Limits
}

// Default returns the configuration an empty mega.yaml gives: listen on
// ":8080", serve the app "main", no buses, databases or cluster. Each call
// returns a new value the caller may change.
func Default() *Config {
	return &Config{
		Server: Server{Addr: ":8080", ShutdownTimeout: 10 * time.Second, DrainDelay: 5 * time.Second, ReconnectWindow: 10 * time.Second},
		Logger: Logger{Level: "info", Format: "console", AccessLog: true},
		Apps:   []string{"main"},
		Services: Services{
			Buses:     map[string]Bus{},
			Databases: map[string]Database{},
		},
		WebSocket: DefaultLimits(),
		Metrics:   Metrics{Enabled: true, Path: "/metrics"},
		AppConfig: map[string]AppOverride{},
	}
}

// The cluster's defaults and roster drivers. Package cluster declares its
// Options defaults with these, so the values live here once; config stays a
// leaf package that imports nothing of mega's (cluster imports NATS).
const (
	// DefaultSubjectPrefix starts every NATS subject of the cluster (key
	// "wsCluster.subjectPrefix").
	DefaultSubjectPrefix = "mega.ws"
	// DefaultRosterTTL is how long a silent instance keeps its members on
	// the other instances (key "wsCluster.roster.ttl").
	DefaultRosterTTL = 10 * time.Second
	// RosterNATS shares the roster between instances over NATS (the
	// default of "wsCluster.roster.driver").
	RosterNATS = "nats"
	// RosterNone keeps each instance's roster local; broadcasts and
	// directs still cross instances.
	RosterNone = "none"
)

// defaultWSCluster is what a wsCluster section starts from.
func defaultWSCluster() *WSCluster {
	return &WSCluster{
		SubjectPrefix: DefaultSubjectPrefix,
		Roster:        Roster{Driver: RosterNATS, TTL: DefaultRosterTTL},
	}
}

// App returns the effective settings of the named app: the global logger and
// WebSocket settings with the app's appConfig entry applied. An app without
// an entry gets the global settings.
func (c *Config) App(name string) AppSettings {
	o := c.AppConfig[name]
	return AppSettings{Logger: c.Logger.With(o.Logger), WebSocket: c.WebSocket.With(o.WebSocket)}
}

// With returns l with the fields set in o replaced.
func (l Logger) With(o LoggerOverride) Logger {
	if o.Level != "" {
		l.Level = o.Level
	}
	if o.Format != "" {
		l.Format = o.Format
	}
	override(&l.AccessLog, o.AccessLog)
	return l
}

// override sets *dst to *v when v is not nil.
func override[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
