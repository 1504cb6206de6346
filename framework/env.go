package mega

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/config"
)

// AppFactory builds an app from its environment. An app's package exports
// one, e.g. func New(env *mega.Env) (*mega.App, error).
type AppFactory func(env *Env) (*App, error)

// Apps maps app names, as listed under apps in mega.yaml, to their factories.
type Apps map[string]AppFactory

// Env is what the boot stage gives an app's factory: its name, its settings
// from mega.yaml, a logger and the configured databases.
type Env struct {
	// Name is the app's name.
	Name string
	// Config is the whole validated configuration.
	Config *config.Config
	// Settings are the app's effective logger and websocket settings
	// (global values merged with appConfig.<name>).
	Settings config.AppSettings
	// Logger is the app's logger.
	Logger zerolog.Logger

	dbs *databases
}

// NewEnv returns an Env for app name with cfg (config.Default() when nil).
// The boot stage builds Envs itself; tests use NewEnv to build an app
// without booting a process. Close the Env to close its databases.
func NewEnv(name string, cfg *config.Config, logger zerolog.Logger) *Env {
	if cfg == nil {
		cfg = config.Default()
	}
	return &Env{Name: name, Config: cfg, Settings: cfg.App(name), Logger: logger, dbs: &databases{cfg: cfg}}
}

// NewApp returns an app named after the Env, with its logger and the
// connection limits from mega.yaml's websocket section.
func (e *Env) NewApp(opts ...Option) *App {
	ws := e.Settings.WebSocket
	limits := Limits{
		ReadLimit:         ws.ReadLimit,
		SendQueue:         int(ws.SendQueue),
		PingInterval:      ws.PingInterval,
		PongTimeout:       ws.PongTimeout,
		MessagesPerSecond: float64(ws.MessagesPerSecond),
		Burst:             ws.Burst,
		AllowedOrigins:    ws.AllowedOrigins,

		MaxConnectionsPerIP:   unlimitedIfZero(ws.MaxConnectionsPerIP),
		MaxConnectionsPerUser: unlimitedIfZero(ws.MaxConnectionsPerUser),
	}
	base := []Option{WithLogger(e.Logger), WithLimits(limits)}
	return NewApp(e.Name, append(base, opts...)...)
}

// unlimitedIfZero maps mega.yaml's "0 = unlimited" to Limits' negative.
func unlimitedIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// Database opens the database named name in services.databases (once per
// process; later calls return the same *sql.DB). The driver must be
// registered by the app, e.g. import _ "modernc.org/sqlite". For a SQLite
// file the directory is created.
func (e *Env) Database(name string) (*sql.DB, error) { return e.dbs.open(name) }

// Close closes the databases the Env opened.
func (e *Env) Close() error { return e.dbs.close() }

// databases opens each configured database once and closes them at shutdown.
type databases struct {
	cfg    *config.Config
	mu     sync.Mutex
	opened map[string]*sql.DB
}

func (d *databases) open(name string) (*sql.DB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if db := d.opened[name]; db != nil {
		return db, nil
	}
	dc, ok := d.cfg.Services.Databases[name]
	if !ok {
		return nil, fmt.Errorf("mega: no database %q in services.databases of mega.yaml", name)
	}
	if dc.Driver == "sqlite" {
		if err := makeSQLiteDir(dc.DSN); err != nil {
			return nil, fmt.Errorf("mega: database %q: %w", name, err)
		}
	}
	db, err := sql.Open(dc.Driver, dc.DSN)
	if err != nil {
		return nil, fmt.Errorf("mega: open database %q (driver %s): %w; is the driver imported by the app?", name, dc.Driver, err)
	}
	if dc.Driver == "sqlite" {
		// One writer at a time is what SQLite allows; a single connection
		// also makes ":memory:" databases shared instead of one per conn.
		db.SetMaxOpenConns(1)
	}
	if d.opened == nil {
		d.opened = make(map[string]*sql.DB)
	}
	d.opened[name] = db
	return db, nil
}

func (d *databases) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for name, db := range d.opened {
		if err := db.Close(); err != nil && first == nil {
			first = fmt.Errorf("mega: close database %q: %w", name, err)
		}
	}
	d.opened = nil
	return first
}

// makeSQLiteDir creates the directory of a file DSN such as
// "file:data/app.db?_pragma=..." or "data/app.db".
func makeSQLiteDir(dsn string) error {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == ":memory:" || strings.HasPrefix(p, ":") {
		return nil
	}
	dir := filepath.Dir(p)
	if dir == "." {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", p, err)
	}
	return nil
}
