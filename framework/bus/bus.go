// Package bus opens the NATS connection that mega uses to fan WebSocket
// broadcasts and presence out between app instances.
//
// A bus is configured as services.buses.<name>: {driver: nats, url: ...}.
// The URL "embedded" starts an in-process nats-server on the loopback
// interface, so a single instance needs no setup. Any other URL is a
// comma-separated list of NATS server URLs, for example a real cluster,
// reached with the TLS and authentication settings of Options (a private
// CA, a client certificate, a credentials file, an nkey, a token, or a
// user and password).
package bus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// EmbeddedURL is the URL value that asks Open to start an in-process
// nats-server instead of connecting to an existing one.
const EmbeddedURL = "embedded"

// Default values used by Open when the matching Options field is zero.
const (
	// DefaultPendingMsgs is the default pending message limit of
	// subscriptions created through the bus.
	DefaultPendingMsgs = 1 << 20
	// DefaultPendingBytes is the default pending byte limit (256 MiB) of
	// subscriptions created through the bus.
	DefaultPendingBytes = 256 << 20
	// DefaultConnectTimeout bounds the first connection attempt and the
	// start of an embedded server.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultName is the connection name used when Options.Name is empty.
	DefaultName = "mega"
)

// Reconnect tuning. Reconnects never give up; the wait between attempts to
// the same server is reconnectWait plus a random jitter, so many instances
// that lost the same server do not all come back at the same instant.
const (
	reconnectWait      = 500 * time.Millisecond
	reconnectJitter    = 500 * time.Millisecond
	reconnectJitterTLS = time.Second
	pingInterval       = 10 * time.Second
	maxPingsOut        = 3
)

// ErrConnect is returned (wrapped) by Open when the bus cannot reach NATS,
// or when the embedded server cannot start. Test for it with errors.Is.
var ErrConnect = errors.New("bus: cannot connect to NATS")

// Options configure Open.
type Options struct {
	// URL is either "embedded" (start an in-process nats-server on
	// loopback) or a comma-separated list of NATS URLs such as
	// "nats://10.0.0.1:4222,nats://10.0.0.2:4222". A URL without a scheme
	// is treated as nats://.
	URL string

	// Name is the NATS connection name. The boot passes
	// "mega/<app or process>/<instanceID>" so that NATS monitoring shows
	// which app and instance a connection belongs to. Empty means "mega".
	Name string

	// BusName is the name of the bus in the config
	// (services.buses.<BusName>). It is only used in log lines and error
	// messages; empty means the messages say "<name>".
	BusName string

	// Logger receives the bus's log lines (connects, disconnects,
	// reconnects, slow consumers, and warnings or errors from an embedded
	// server). The zero value logs nothing.
	Logger zerolog.Logger

	// PendingMsgs and PendingBytes are the pending limits of subscriptions
	// created through the bus (see Subscribe). Core NATS cuts off slow consumers and drops their
	// messages, so the defaults are deliberately large: 1<<20 messages and
	// 256 MiB. Zero means the default; a negative value means no limit
	// (callback subscriptions only).
	PendingMsgs  int
	PendingBytes int

	// ConnectTimeout bounds the first connection, over all URLs, and the
	// start of an embedded server. It is also the dial timeout of later
	// reconnects. Zero means 5s.
	ConnectTimeout time.Duration

	// OnReconnect, if set, is called each time the connection comes back
	// after being lost (the cluster uses it to re-announce itself and
	// resync). By then the bus's subscriptions have been re-sent to the
	// server, ahead of anything published from the hook; call
	// Conn().Flush() to wait until the server has processed them. It runs
	// on nats.go's callback goroutine and must not block.
	OnReconnect func()

	// OnDisconnect, if set, is called each time the connection is lost,
	// with the reason (which may be nil). It is not called when the bus is
	// being closed by Close. It runs on nats.go's callback goroutine and
	// must not block.
	OnDisconnect func(error)

	// EmbeddedPort is the client port of the embedded server when URL is
	// "embedded". Zero picks a random free port on 127.0.0.1.
	EmbeddedPort int

	// JetStreamDir turns JetStream on in the embedded server, keeping its
	// files in this directory (created if missing). Empty leaves JetStream
	// off. It has no effect on an external NATS, which decides for itself.
	JetStreamDir string
	// TLS configures TLS to the servers of a non-embedded bus: a private
	// CA, a client certificate for mutual TLS, and the name the servers'
	// certificates carry. When any of its fields is set every connection
	// uses TLS, whatever the URL's scheme. The servers' certificates are
	// always verified.
	TLS TLS
	// Credentials is the path of a NATS credentials file (.creds: a user
	// JWT and its nkey seed) for decentralized JWT authentication. It
	// excludes NKey, Token, User and Password.
	Credentials string
	// NKey is the path of a file holding a user nkey seed ("SU...").
	NKey string
	// Token is an authentication token.
	Token string
	// User and Password authenticate with a user name and password. A URL
	// that carries a user and password or a token
	// ("nats://user:pass@host", "nats://token@host") uses those instead,
	// for that server and the servers learned from it.
	User     string
	Password string

	// NoEcho asks the server not to send this connection its own
	// publishes back. The boot sets it for the cluster's connection: every
	// instance already delivered its broadcasts locally. Measured: a cluster
	// broadcast to a peer costs 1,135 instead of 1,685 ns and 4 instead of 7
	// allocations (BenchmarkClusterBroadcast, median of 5).
	NoEcho bool
}

// TLS is the TLS configuration of a bus. Open reads the files to check
// them; nats.go reads the CA and the client certificate and key again at
// each reconnect, so renewed ones are picked up without a restart (as is a
// renewed Credentials file).
type TLS struct {
	// CA is the path of a PEM file with the CA certificate(s) that signed
	// the servers' certificates. Empty means the system's CAs.
	CA string
	// Cert and Key are the paths of the PEM client certificate and its
	// private key, for servers that verify clients (mutual TLS).
	Cert string
	Key  string
	// ServerName is the name the servers' certificates must carry when it
	// is not the host of the URL (for example when the URLs are IP
	// addresses).
	ServerName string
}

// enabled reports whether any TLS setting is made.
func (t TLS) enabled() bool { return t != TLS{} }

// Bus is an open NATS connection for the framework, plus the in-process
// server behind it when the URL is "embedded". Its methods are safe for
// concurrent use.
type Bus struct {
	nc        *nats.Conn
	srv       *server.Server // nil unless embedded
	clientURL string         // what clients connect to (may carry credentials)
	safeURL   string         // clientURL with passwords redacted, for messages
	busName   string         // Options.BusName, for messages
	auth      authMethod     // how the bus authenticates, for messages

	pendingMsgs  int
	pendingBytes int
	log          zerolog.Logger
	onReconnect  func()
	onDisconnect func(error)

	lastAuthErr atomic.Value // string: the auth error last logged while reconnecting
	closing     atomic.Bool
	closed      chan struct{} // closed by the nats.go ClosedHandler

	closeOnce sync.Once
	closeErr  error
}

// Open connects to NATS as configured by opts and returns the bus. With
// URL "embedded" it first starts an in-process nats-server on 127.0.0.1.
//
// The TLS and authentication files of opts are read first; a file that
// cannot be used fails Open with an error naming its key
// (services.buses.<name>.tls.ca, ...). The first connection attempt does
// not retry: if no server answers, or the servers refuse the TLS settings
// or the credentials, Open fails fast with an error that wraps ErrConnect
// and the nats.go error, names the URL(s) and says which setting to check.
// Once connected, the bus reconnects forever with jittered waits, also
// while a server refuses the credentials, and calls the OnDisconnect and
// OnReconnect hooks.
//
// ctx bounds the whole call. Starting the embedded server, and the first
// connect (over all URLs), are each bounded by ConnectTimeout.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.PendingMsgs == 0 {
		opts.PendingMsgs = DefaultPendingMsgs
	}
	if opts.PendingBytes == 0 {
		opts.PendingBytes = DefaultPendingBytes
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	log := opts.Logger
	if opts.BusName != "" {
		log = log.With().Str("bus", opts.BusName).Logger()
	}
	b := &Bus{
		pendingMsgs:  opts.PendingMsgs,
		pendingBytes: opts.PendingBytes,
		log:          log,
		onReconnect:  opts.OnReconnect,
		onDisconnect: opts.OnDisconnect,
		closed:       make(chan struct{}),
		busName:      opts.BusName,
		auth:         authOf(opts),
	}

	embedded := strings.EqualFold(strings.TrimSpace(opts.URL), EmbeddedURL)
	security, err := securityOptions(opts, embedded)
	if err != nil {
		return nil, err
	}
	if embedded {
		srv, err := startEmbedded(opts, log)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		b.clientURL = srv.ClientURL()
		b.safeURL = b.clientURL
	} else {
		urls, err := parseURLs(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("bus: invalid NATS url in services.buses.%s.url: %w",
				busKey(opts.BusName), err)
		}
		b.clientURL = strings.Join(urls, ",")
		b.safeURL = redactList(urls)
	}

	connectCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	nc, err := b.connect(connectCtx, opts, security)
	if err != nil {
		b.closing.Store(true)
		b.shutdownEmbedded()
		var ce *connectError
		switch {
		case !errors.As(err, &ce) && ctx.Err() == nil: // ConnectTimeout ran out
			return nil, fmt.Errorf("%w at %s (no answer within %s); is nats-server running and reachable there? Set NATS_URL or services.buses.%s.url: %w",
				ErrConnect, b.safeURL, opts.ConnectTimeout, busKey(opts.BusName), err)
		case ce == nil: // the caller's ctx ended
			return nil, fmt.Errorf("%w at %s: %w", ErrConnect, b.safeURL, err)
		case b.srv != nil:
			return nil, fmt.Errorf("%w: embedded nats-server at %s started but refused the connection: %w",
				ErrConnect, b.safeURL, ce.natsErr)
		default:
			return nil, ce
		}
	}
	b.nc = nc
	// Debug: the caller reports the connection at info in its own words,
	// so a user reads it once.
	b.log.Debug().
		Str("url", redactURL(nc.ConnectedUrl())).
		Bool("embedded", b.srv != nil).
		Str("name", opts.Name).
		Msg("bus: connected to NATS")
	return b, nil
}

// connect makes the first connection, bounded by ctx. security holds the
// TLS and authentication options.
func (b *Bus) connect(ctx context.Context, opts Options, security []nats.Option) (*nats.Conn, error) {
	dialer := newRecordingDialer(opts.ConnectTimeout)
	natsOpts := []nats.Option{
		nats.Name(opts.Name),
		nats.Timeout(opts.ConnectTimeout),
		nats.SetCustomDialer(dialer),
		nats.RetryOnFailedConnect(false),
		nats.MaxReconnects(-1),
		// Keep trying a server that refused the credentials: nats.go would
		// otherwise stop reconnecting for good after the second refusal,
		// and the instance would stay unready after the server is fixed.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.ErrorHandler(b.handleError),
		nats.DisconnectErrHandler(b.handleDisconnect),
		nats.ReconnectHandler(b.handleReconnect),
		nats.ClosedHandler(b.handleClosed),
	}
	if opts.NoEcho {
		natsOpts = append(natsOpts, nats.NoEcho())
	}
	natsOpts = append(natsOpts, security...)

	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(b.clientURL, natsOpts...)
		if dials := dialer.stop(); err != nil {
			err = &connectError{urls: b.safeURL, busName: opts.BusName, natsErr: err, dials: dials, hint: connectHint(opts, err)}
		}
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		return r.nc, r.err
	case <-ctx.Done():
		b.closing.Store(true)
		// The attempt is bounded by ConnectTimeout; close the connection
		// if it succeeds after we stopped waiting.
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// startEmbedded starts an in-process nats-server on 127.0.0.1 and waits
// until it accepts clients.
func startEmbedded(opts Options, log zerolog.Logger) (*server.Server, error) {
	port := opts.EmbeddedPort
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{
		Host:       "127.0.0.1",
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: server.MAX_PAYLOAD_SIZE,
	}
	if opts.JetStreamDir != "" {
		if err := os.MkdirAll(opts.JetStreamDir, 0o750); err != nil {
			return nil, fmt.Errorf("%w: embedded nats-server: JetStream store: %w", ErrConnect, err)
		}
		so.JetStream, so.StoreDir = true, opts.JetStreamDir
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot configure embedded nats-server: %w", ErrConnect, err)
	}
	srvLog := &serverLogger{log: log}
	srv.SetLogger(srvLog, false, false)
	srv.Start()
	// Poll in short steps so that a fatal start error (such as the port
	// being in use) fails at once instead of after the whole timeout.
	deadline := time.Now().Add(opts.ConnectTimeout)
	reason := ""
	for !srv.ReadyForConnections(25 * time.Millisecond) {
		if reason = srvLog.lastFailure(); reason == "" && time.Now().After(deadline) {
			reason = "not ready for connections after " + opts.ConnectTimeout.String()
		}
		if reason != "" {
			break
		}
	}
	if reason != "" {
		srv.Shutdown()
		srv.WaitForShutdown()
		where := "127.0.0.1 (random port)"
		if opts.EmbeddedPort != 0 {
			where = fmt.Sprintf("127.0.0.1:%d", opts.EmbeddedPort)
		}
		return nil, fmt.Errorf("%w: embedded nats-server on %s did not start: %s", ErrConnect, where, reason)
	}
	return srv, nil
}

// parseURLs splits, trims and checks a comma-separated list of NATS URLs.
// A URL without a scheme gets nats://.
func parseURLs(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New(`empty; use "embedded" or a comma-separated list of nats:// URLs`)
	}
	parts := strings.Split(list, ",")
	urls := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("entry %d is empty", i+1)
		}
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		u, err := url.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "nats", "tls", "ws", "wss":
		default:
			return nil, fmt.Errorf("entry %d (%s): scheme must be nats, tls, ws or wss, got %q", i+1, u.Redacted(), u.Scheme)
		}
		if u.Hostname() == "" {
			return nil, fmt.Errorf("entry %d (%s): missing host", i+1, u.Redacted())
		}
		urls = append(urls, p)
	}
	return urls, nil
}

// redactList joins URLs with any passwords and tokens replaced by "xxxxx".
func redactList(urls []string) string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = redactURL(s)
	}
	return strings.Join(out, ",")
}

// redactURL returns s with its password, or its token (a user without a
// password, as in "nats://token@host"), replaced by "xxxxx".
// url.URL.Redacted, and so nats.go's ConnectedUrlRedacted, show tokens.
func redactURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return s
	case u.User == nil:
		return u.String()
	}
	if _, ok := u.User.Password(); !ok {
		u.User = url.User("xxxxx")
		return u.String()
	}
	return u.Redacted()
}

func busKey(name string) string {
	if name == "" {
		return "<name>"
	}
	return name
}

// Conn returns the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// ClientURL returns the URL that clients connect to: the embedded server's
// URL, or the configured comma-separated list (trimmed, with nats:// added
// where the scheme was missing).
func (b *Bus) ClientURL() string { return b.clientURL }

// RedactedURL is ClientURL with passwords and tokens replaced by "xxxxx":
// the form to show in logs and messages.
func (b *Bus) RedactedURL() string { return b.safeURL }

// Embedded reports whether the bus runs its own in-process nats-server.
func (b *Bus) Embedded() bool { return b.srv != nil }

// Connected reports whether the connection to NATS is currently up.
func (b *Bus) Connected() bool { return b.nc != nil && b.nc.IsConnected() }

// Subscribe subscribes to subject with a callback, with the pending limits
// from Options. nats.go runs one goroutine per callback subscription.
func (b *Bus) Subscribe(subject string, cb nats.MsgHandler) (*nats.Subscription, error) {
	sub, err := b.nc.Subscribe(subject, cb)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %q: %w", subject, err)
	}
	if err := sub.SetPendingLimits(b.pendingMsgs, b.pendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("bus: subscribe %q: set pending limits: %w", subject, err)
	}
	return sub, nil
}

// Close drains the connection (pending subscriptions are delivered and
// pending publishes flushed), waiting at most until ctx ends; then closes
// it, and shuts the embedded server down and waits for it to stop. Close is
// idempotent: later calls return the first call's result.
func (b *Bus) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.close(ctx) })
	return b.closeErr
}

func (b *Bus) close(ctx context.Context) error {
	b.closing.Store(true)
	var err error
	if b.nc != nil {
		if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) &&
			!errors.Is(derr, nats.ErrConnectionReconnecting) {
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-ctx.Done():
			b.nc.Close()
			err = fmt.Errorf("bus: drain did not finish in time, connection closed: %w", ctx.Err())
			<-b.closed
		}
	}
	b.shutdownEmbedded()
	b.log.Info().Msg("bus: closed")
	return err
}

func (b *Bus) shutdownEmbedded() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// nats.go callbacks; all run on the connection's callback goroutine.

func (b *Bus) handleError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	if isAuthError(err) {
		// Refused on every reconnect attempt: log each distinct refusal
		// once until the connection is back.
		if prev, _ := b.lastAuthErr.Swap(err.Error()).(string); prev == err.Error() {
			return
		}
		b.log.Error().Err(err).Msgf("bus: the NATS server refused the credentials; retrying until it accepts them (check %s)",
			authKeys(b.busName, b.auth))
		return
	}
	if errors.Is(err, nats.ErrSlowConsumer) {
		ev := b.log.Warn().Str("subject", subject)
		if sub != nil {
			if dropped, derr := sub.Dropped(); derr == nil {
				ev = ev.Int("dropped", dropped)
			}
		}
		ev.Msg("bus: slow consumer, NATS messages dropped")
		return
	}
	b.log.Error().Err(err).Str("subject", subject).Msg("bus: NATS error")
}

func (b *Bus) handleDisconnect(nc *nats.Conn, err error) {
	if b.closing.Load() {
		return
	}
	u := redactURL(nc.ConnectedUrl())
	if u == "" {
		u = b.safeURL
	}
	b.log.Warn().Err(err).Str("url", u).Msg("bus: disconnected from NATS, reconnecting")
	if b.onDisconnect != nil {
		b.onDisconnect(err)
	}
}

func (b *Bus) handleReconnect(nc *nats.Conn) {
	if b.closing.Load() {
		return
	}
	b.lastAuthErr.Store("")
	b.log.Info().Str("url", redactURL(nc.ConnectedUrl())).Msg("bus: reconnected to NATS")
	if b.onReconnect != nil {
		b.onReconnect()
	}
}

func (b *Bus) handleClosed(*nats.Conn) {
	close(b.closed)
}
