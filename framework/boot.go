package mega

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/bus"
	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/history"
)

// Main runs the apps as a process: it is the whole body of an app's main
// function. It reads --config (default mega.yaml), boots, serves until
// SIGTERM or SIGINT, shuts down gracefully and exits non-zero on failure.
// With the argument routes it prints the apps' routes instead (see Run).
// SIGTERM (an orchestrator stopping the process) drains first, see
// Instance.Drain; SIGINT (Ctrl-C) stops without a drain, and a second one
// ends the process at once.
func Main(apps Apps) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM) // a second signal kills
		if s == os.Interrupt {
			cancel(ErrInterrupted)
			return
		}
		cancel(errTerminated)
	}()
	err := Run(ctx, os.Args[1:], apps)
	cancel(nil)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

// ErrInterrupted is the cause Main cancels Run's context with on SIGINT
// (Ctrl-C): Run then shuts down without draining.
var ErrInterrupted = errors.New("mega: interrupted")

// errTerminated is the cause Main cancels Run's context with on SIGTERM.
var errTerminated = errors.New("mega: terminated")

// Run parses args (--config FILE), loads and validates the config, boots
// the apps and serves until ctx ends, then drains (see Instance.Drain;
// skipped when ctx was cancelled with cause ErrInterrupted) and shuts down,
// both within server.shutdownTimeout.
//
// With the argument routes (`go run . routes [--config FILE] [--json]`,
// what `mega routes` runs) it builds the apps as the boot does, without
// listening or connecting a bus, prints their HTTP routes and channels to
// standard output, and returns.
func Run(ctx context.Context, args []string, apps Apps) error {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	path := fs.String("config", config.DefaultPath, "the config file to use")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.Arg(0) == routesArg {
		return runRoutes(ctx, fs.Args()[1:], *path, apps, routesOutput)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	inst, err := Boot(ctx, cfg, apps)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-inst.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	serveErr := inst.Err()
	if serveErr != nil {
		// Say why before shutting down, so "stopped" is the last line.
		inst.log.Error().Err(serveErr).Msg("serving failed; shutting down")
	} else if !errors.Is(context.Cause(ctx), ErrInterrupted) {
		inst.Drain(sctx)
	}
	return errors.Join(serveErr, inst.Shutdown(sctx))
}

// Drain makes every app's /readyz answer 503 and waits server.drainDelay
// (0 under mega dev), at most half of what is left of ctx, while everything
// keeps working: load balancers stop routing new clients here before
// Shutdown closes the WebSockets. Run calls it on SIGINT/SIGTERM; a main of
// its own calls it before Shutdown.
func (i *Instance) Drain(ctx context.Context) {
	d := i.cfg.Server.DrainDelay
	if DevMode() {
		d = 0
	}
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/2)
	}
	for _, a := range i.apps {
		a.app.draining.Store(true)
	}
	if d <= 0 {
		return
	}
	i.log.Info().Stringer("for", d.Round(time.Millisecond)).Msg("draining: /readyz answers 503, connections keep working")
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Instance is a booted process: its buses, clusters, apps and HTTP server.
type Instance struct {
	cfg       *config.Config
	log       zerolog.Logger
	id        string
	buses     map[string]*bus.Bus
	apps      []*bootedApp
	dbs       *databases
	ln        net.Listener
	srv       *http.Server
	metrics   *http.Server // the metrics server when metrics.addr is set
	metricsLn net.Listener
	done      chan struct{}
	err       error
	stopMu    sync.Mutex
	stopped   bool
	started   bool // serving began: Shutdown says "stopped"
}

type bootedApp struct {
	app     *App
	cluster *cluster.Cluster
}

// Boot starts what cfg describes: it checks that every app in cfg.Apps is
// registered, connects the buses, builds the apps, wires and syncs a NATS
// cluster for each app when wsCluster is set, and starts serving HTTP. It
// returns once the instance is ready. Stop it with Shutdown.
func Boot(ctx context.Context, cfg *config.Config, apps Apps) (_ *Instance, err error) {
	if err := checkApps(cfg, apps); err != nil {
		return nil, err
	}
	inst := &Instance{
		cfg:   cfg,
		log:   newLogger(cfg.Logger, logOutput),
		id:    randomHex(16),
		buses: make(map[string]*bus.Bus),
		dbs:   &databases{cfg: cfg},
		done:  make(chan struct{}),
	}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
			defer cancel()
			_ = inst.Shutdown(sctx)
		}
	}()

	built, err := buildApps(cfg, apps, inst.dbs, logOutput)
	for _, app := range built {
		inst.apps = append(inst.apps, &bootedApp{app: app})
	}
	if err != nil {
		return nil, err
	}
	// Buses open once the apps are built: whether the embedded server runs
	// JetStream depends on their channels.
	if err := inst.openBuses(ctx); err != nil {
		return nil, err
	}
	if err := inst.wireClusters(ctx); err != nil {
		return nil, err
	}
	if err := inst.wireHistories(ctx); err != nil {
		return nil, err
	}
	if err := inst.serve(); err != nil {
		return nil, err
	}
	if err := inst.startInspect(ctx); err != nil {
		return nil, err
	}
	return inst, nil
}

// checkApps checks that every app cfg names has a factory in apps.
func checkApps(cfg *config.Config, apps Apps) error {
	registered := make([]string, 0, len(apps))
	for name := range apps {
		registered = append(registered, name)
	}
	sort.Strings(registered)
	return cfg.CheckApps(registered)
}

// buildApps builds the apps of cfg.Apps, in order, with their factories and
// applies mega.yaml's channel settings to them: everything the boot does
// before it connects a bus. Their Envs share dbs and log to logs. On error
// it returns the apps built so far, for the caller to shut down.
func buildApps(cfg *config.Config, apps Apps, dbs *databases, logs io.Writer) ([]*App, error) {
	var built []*App
	for _, name := range cfg.Apps {
		settings := cfg.App(name)
		env := &Env{Name: name, Config: cfg, Settings: settings, Logger: newLogger(settings.Logger, logs).With().Str("app", name).Logger(), dbs: dbs}
		app, err := apps[name](env)
		if err != nil {
			return built, fmt.Errorf("mega: build app %q: %w", name, err)
		}
		if app == nil {
			return built, fmt.Errorf("mega: build app %q: the factory returned no app", name)
		}
		built = append(built, app)
		app.reconnectWindow = cfg.Server.ReconnectWindow
		if err := app.configureChannels(cfg.AppConfig[name].Channels, cfg.WSCluster != nil); err != nil {
			return built, fmt.Errorf("mega: app %q: %w", name, err)
		}
	}
	return built, nil
}

func (i *Instance) openBuses(ctx context.Context) error {
	wsc := i.cfg.WSCluster
	if wsc == nil {
		return nil // only the cluster uses a bus today; others are not opened
	}
	bc := i.cfg.Services.Buses[wsc.Bus]
	jsDir := ""
	if bc.Embedded() && i.keepsHistory() {
		jsDir = bc.StoreDir
		if jsDir == "" {
			jsDir = config.DefaultStoreDir
		}
	}
	b, err := bus.Open(ctx, bus.Options{
		JetStreamDir: jsDir,
		URL:          bc.URL,
		TLS:          bus.TLS{CA: bc.TLS.CA, Cert: bc.TLS.Cert, Key: bc.TLS.Key, ServerName: bc.TLS.ServerName},
		Credentials:  bc.Credentials,
		NKey:         bc.NKey,
		Token:        string(bc.Token),
		User:         bc.User,
		Password:     string(bc.Password),
		NoEcho:       true, // the connection serves only the clusters, which skip their own echo
		Name:         "mega/" + strings.Join(i.cfg.Apps, ",") + "/" + i.id,
		BusName:      wsc.Bus, // names services.buses.<bus>.… in errors; Open adds the "bus" log field
		Logger:       i.log,
		OnReconnect: func() {
			for _, a := range i.apps {
				if a.cluster != nil {
					a.cluster.Resync()
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("mega: bus %q (services.buses.%s): %w", wsc.Bus, wsc.Bus, err)
	}
	i.buses[wsc.Bus] = b
	where := b.Conn().ConnectedUrlRedacted()
	if b.Embedded() {
		where = "embedded nats-server at " + where
	} else if all := b.RedactedURL(); all != where {
		where += " (of " + all + ")"
	}
	i.log.Info().Str("bus", wsc.Bus).Msg("bus connected: " + where)
	return nil
}

func (i *Instance) wireClusters(ctx context.Context) error {
	wsc := i.cfg.WSCluster
	for _, a := range i.apps {
		if wsc == nil {
			continue
		}
		b := i.buses[wsc.Bus]
		cl, err := cluster.New(b.Conn(), a.app.hub, cluster.Options{
			App:           a.app.Name(),
			SubjectPrefix: wsc.SubjectPrefix,
			Roster:        wsc.Roster.Driver,
			TTL:           wsc.Roster.TTL,
			Logger:        a.app.log,
			InstanceID:    i.id,
		})
		if err != nil {
			return fmt.Errorf("mega: cluster for app %q: %w", a.app.Name(), err)
		}
		a.app.hub.SetOutbound(cl)
		a.cluster = cl
		if err := cl.Start(ctx); err != nil {
			return fmt.Errorf("mega: start cluster for app %q: %w", a.app.Name(), err)
		}
		a.app.SetReady(func() error {
			switch {
			case !b.Connected():
				return errors.New("bus disconnected")
			case !cl.Ready():
				return errors.New("cluster roster not synced")
			}
			return nil
		})
		i.log.Info().Str("app", a.app.Name()).Str("roster", wsc.Roster.Driver).Stringer("ttl", wsc.Roster.TTL).Int("peers", cl.Stats().Peers).
			Str("subjects", wsc.SubjectPrefix+"."+a.app.Name()+".>").Msg("cluster wired and synced")
	}
	return nil
}

// keepsHistory reports whether a channel of any app keeps history.
func (i *Instance) keepsHistory() bool {
	for _, a := range i.apps {
		if len(a.app.historyMounts()) > 0 {
			return true
		}
	}
	return false
}

// wireHistories opens the JetStream history of every channel that keeps
// one and starts delivering it. A NATS without JetStream fails the boot.
func (i *Instance) wireHistories(ctx context.Context) error {
	wsc := i.cfg.WSCluster
	for _, a := range i.apps {
		mounts := a.app.historyMounts()
		if len(mounts) == 0 {
			continue
		}
		b := i.buses[wsc.Bus]
		store, err := history.Open(ctx, b.Conn(), wsc.SubjectPrefix, a.app.Name())
		if errors.Is(err, history.ErrNoJetStream) {
			return fmt.Errorf("mega: app %q: channel %s keeps history, but the NATS server of bus %q (%s) runs without JetStream: "+
				"start nats-server with -js (or add a jetstream { store_dir: ... } block to its config), or turn the channel's history off: %w",
				a.app.Name(), mounts[0].ns, wsc.Bus, b.RedactedURL(), err)
		}
		if errors.Is(err, history.ErrOldServer) {
			return fmt.Errorf("mega: app %q: channel %s keeps history, but the NATS server of bus %q (%s) is too old: upgrade it to 2.11 or later: %w",
				a.app.Name(), mounts[0].ns, wsc.Bus, b.RedactedURL(), err)
		}
		if err != nil {
			return fmt.Errorf("mega: app %q: history on bus %q: %w", a.app.Name(), wsc.Bus, err)
		}
		for _, m := range mounts {
			if err := a.app.wireHistory(ctx, store, m); err != nil {
				return fmt.Errorf("mega: app %q: channel %s: %w", a.app.Name(), m.ns, err)
			}
			i.log.Info().Str("app", a.app.Name()).Str("ns", m.ns).Int("size", m.history.Size).Stringer("ttl", m.history.TTL).
				Msg("history kept in JetStream stream " + history.StreamName(wsc.SubjectPrefix, a.app.Name(), m.ns))
		}
	}
	return nil
}

// handler routes to the apps: one app serves the root; several are mounted
// at /<name>, with /healthz and /readyz at the root covering all of them.
// The metrics endpoint (unless it has its own listener) and the process
// middleware go around them: trusted-proxy client address, request id and
// the access log (each app's lines through its own logger, when its
// logger.accessLog is on).
func (i *Instance) handler(metrics http.Handler) http.Handler {
	mc := i.cfg.Metrics
	logged := func(log zerolog.Logger, on bool, h http.Handler) http.Handler {
		if !on {
			return h
		}
		return accessLog(log, mc.Path)(h)
	}
	var apps http.Handler
	if len(i.apps) == 1 {
		a := i.apps[0].app
		apps = logged(a.log, i.cfg.App(a.Name()).Logger.AccessLog, a)
	} else {
		r := chi.NewRouter()
		for _, b := range i.apps {
			a := b.app
			r.Mount("/"+a.Name(), logged(a.log, i.cfg.App(a.Name()).Logger.AccessLog, a))
		}
		root := func(h http.HandlerFunc) http.Handler { return logged(i.log, i.cfg.Logger.AccessLog, h) }
		r.Method(http.MethodGet, "/healthz", root(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }))
		r.Method(http.MethodGet, "/readyz", root(func(w http.ResponseWriter, _ *http.Request) {
			for _, a := range i.apps {
				if err := a.app.notReady(); err != nil {
					http.Error(w, a.app.Name()+": not ready: "+err.Error(), http.StatusServiceUnavailable)
					return
				}
			}
			_, _ = io.WriteString(w, "ready\n")
		}))
		apps = r
	}
	h := apps
	if metrics != nil && mc.Addr == "" {
		metrics = logged(i.log, i.cfg.Logger.AccessLog, metrics)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mc.Path {
				metrics.ServeHTTP(w, r)
				return
			}
			apps.ServeHTTP(w, r)
		})
	}
	h = middleware.RequestID(h)
	return realIP(i.cfg.Server.TrustedProxies)(h)
}

func (i *Instance) serve() error {
	ln, err := net.Listen("tcp", i.cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("mega: listen on %s (server.addr): %w; is another process using the port? Set PORT or server.addr", i.cfg.Server.Addr, err)
	}
	i.ln = ln
	var metrics http.Handler
	if mc := i.cfg.Metrics; mc.Enabled {
		metrics = promhttp.HandlerFor(newRegistry(i.apps), promhttp.HandlerOpts{})
		if mc.Addr != "" {
			mln, err := net.Listen("tcp", mc.Addr)
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("mega: listen on %s (metrics.addr): %w; is another process using the port?", mc.Addr, err)
			}
			mux := http.NewServeMux()
			mux.Handle(mc.Path, metrics)
			i.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			i.metricsLn = mln
			go func() { _ = i.metrics.Serve(mln) }() // ends with Shutdown
			i.log.Info().Str("addr", mln.Addr().String()).Msg("metrics on " + displayURL(mln.Addr()) + mc.Path)
		}
	}
	i.srv = &http.Server{Handler: i.handler(metrics), ReadHeaderTimeout: 10 * time.Second}
	i.started = true
	go func() {
		defer close(i.done)
		if err := i.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			i.err = fmt.Errorf("mega: serve: %w", err)
		}
	}()
	names := make([]string, len(i.apps))
	for k, a := range i.apps {
		names[k] = a.app.Name()
	}
	i.log.Info().Str("addr", ln.Addr().String()).Strs("apps", names).Msg("serving on " + displayURL(ln.Addr()))
	return nil
}

func displayURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(tcp.Port)))
}

// Addr returns the address the HTTP server listens on.
func (i *Instance) Addr() string { return i.ln.Addr().String() }

// URL returns the server's base URL, e.g. http://127.0.0.1:8080.
func (i *Instance) URL() string { return displayURL(i.ln.Addr()) }

// App returns the booted app named name, or nil.
func (i *Instance) App(name string) *App {
	for _, a := range i.apps {
		if a.app.Name() == name {
			return a.app
		}
	}
	return nil
}

// BusURL returns the URL of the NATS server the cluster's bus is connected
// to right now, with any password or token hidden, or "" when there is no
// cluster bus or it is disconnected.
func (i *Instance) BusURL() string {
	if i.cfg.WSCluster == nil {
		return ""
	}
	if b := i.buses[i.cfg.WSCluster.Bus]; b != nil {
		return b.Conn().ConnectedUrlRedacted()
	}
	return ""
}

// MetricsURL returns the URL of the Prometheus endpoint, or "" when
// metrics.enabled is false.
func (i *Instance) MetricsURL() string {
	mc := i.cfg.Metrics
	switch {
	case !mc.Enabled:
		return ""
	case i.metricsLn != nil:
		return displayURL(i.metricsLn.Addr()) + mc.Path
	}
	return i.URL() + mc.Path
}

// InstanceID returns this process's random id, shared by its clusters.
func (i *Instance) InstanceID() string { return i.id }

// Done is closed when the HTTP server stops serving.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Err returns why serving stopped on its own, if it did.
func (i *Instance) Err() error {
	select {
	case <-i.done:
		return i.err
	default:
		return nil
	}
}

// Shutdown stops the instance within ctx: it stops accepting connections,
// tells the peers this instance's members are gone (one message per app),
// closes WebSockets with 1001 and lets handlers finish, drains NATS and
// closes the databases. It is safe to call more than once.
func (i *Instance) Shutdown(ctx context.Context) error {
	i.stopMu.Lock()
	defer i.stopMu.Unlock()
	if i.stopped {
		return nil
	}
	i.stopped = true
	var errs []error
	httpDone := make(chan error, 1)
	if i.srv != nil {
		go func() { httpDone <- i.srv.Shutdown(ctx) }()
	} else {
		httpDone <- nil
	}
	if i.metrics != nil {
		errs = append(errs, i.metrics.Shutdown(ctx))
	}
	for _, a := range i.apps {
		a.app.stopHistories()
		if a.cluster != nil {
			if err := a.cluster.Stop(ctx); err != nil {
				errs = append(errs, err)
			}
			a.app.hub.SetOutbound(nil)
		}
	}
	i.stopInspect() // after the byes, so peers no longer list this instance as missing
	var wg sync.WaitGroup
	appErrs := make([]error, len(i.apps))
	for k, a := range i.apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			appErrs[k] = a.app.Shutdown(ctx)
		}()
	}
	wg.Wait()
	errs = append(errs, appErrs...)
	errs = append(errs, <-httpDone)
	for _, b := range i.buses {
		errs = append(errs, b.Close(ctx))
	}
	errs = append(errs, i.dbs.close())
	if i.srv != nil {
		<-i.done
	}
	if i.started {
		i.log.Info().Msg("stopped")
	}
	return errors.Join(errs...)
}

func newLogger(c config.Logger, w io.Writer) zerolog.Logger {
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05", NoColor: !colorful(w)}
	}
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// logOutput is where a booted process logs; tests redirect it.
var logOutput io.Writer = os.Stderr

// colorful reports whether w is a terminal that wants colour: not when
// output goes to a file or a pipe, nor when NO_COLOR is set.
func colorful(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
