package mega

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

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
// connection limits of mega.yaml: websocket merged with
// appConfig.<name>.websocket (Settings.WebSocket). Options are applied
// after them: WithLimits in opts replaces them.
func (e *Env) NewApp(opts ...Option) *App {
	base := []Option{WithLogger(e.Logger), WithLimits(Limits(e.Settings.WebSocket))}
	return NewApp(e.Name, append(base, opts...)...)
}

// Database opens the database named name in services.databases (once per
// process; later calls return the same *sql.DB). The driver must be
// registered by the app, e.g. import _ "modernc.org/sqlite". For a SQLite
// file the directory is created, a DSN that sets no busy timeout, journal
// mode or transaction lock gets defaults that let several processes share
// the file (see SQLiteDSN), and the connection is opened right away, waiting
// up to the busy timeout while another process holds the file.
func (e *Env) Database(name string) (*sql.DB, error) {
	if err := e.Config.CheckDatabases([]config.DatabaseUse{{App: e.Name, Name: name}}); err != nil {
		return nil, fmt.Errorf("mega: %w", err)
	}
	return e.dbs.open(name)
}

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
	dsn := dc.DSN
	if dc.Driver == "sqlite" {
		dsn = SQLiteDSN(dsn)
	}
	db, err := sql.Open(dc.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("mega: open database %q (driver %s): %w; is the driver imported by the app?", name, dc.Driver, err)
	}
	if dc.Driver == "sqlite" {
		// One writer at a time is what SQLite allows; a single connection
		// also makes ":memory:" databases shared instead of one per conn.
		db.SetMaxOpenConns(1)
		if err := connectSQLite(db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("mega: open database %q: %w", name, err)
		}
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

// SQLite defaults that SQLiteDSN adds to a DSN that does not choose them.
const (
	// sqliteBusyTimeout is how long, in milliseconds, a connection waits for
	// a lock another process holds before failing with SQLITE_BUSY.
	sqliteBusyTimeout = 5000
	// sqliteJournalMode lets readers and one writer work at the same time.
	sqliteJournalMode = "WAL"
	// sqliteTxLock makes a read-write transaction take the write lock at
	// BEGIN, where the busy timeout applies, instead of failing with
	// SQLITE_BUSY when it upgrades a read lock another writer got past.
	sqliteTxLock = "immediate"
)

// SQLiteDSN returns dsn with the settings several processes need to share
// one SQLite file (modernc.org/sqlite's DSN syntax): a busy timeout
// (_pragma=busy_timeout(5000)), WAL (_pragma=journal_mode(WAL)) and
// immediate read-write transactions (_txlock=immediate). Each is added only
// when the DSN does not set it already, in any spelling the driver accepts:
// _pragma=busy_timeout(...) or _busy_timeout / _timeout;
// _pragma=journal_mode(...) or _journal_mode / _journal; _txlock.
//
// In-memory and temporary databases (":memory:", "file::memory:",
// mode=memory, an empty name) and DSNs whose query does not parse are
// returned unchanged. WAL is not added to a database opened read-only
// (mode=ro, immutable=1) or through another VFS (vfs=...), where switching
// the journal mode would fail.
func SQLiteDSN(dsn string) string {
	name, query, _ := strings.Cut(dsn, "?")
	fragment := ""
	uri := strings.HasPrefix(name, "file:")
	if uri {
		if i := strings.IndexByte(query, '#'); i >= 0 {
			query, fragment = query[:i], query[i:]
		}
	}
	q, err := url.ParseQuery(query)
	path := strings.TrimPrefix(name, "file:")
	if err != nil || path == "" || strings.HasPrefix(path, ":memory:") || (uri && q.Get("mode") == "memory") {
		return dsn
	}
	var add []string
	if !q.Has("_busy_timeout") && !q.Has("_timeout") && !setsPragma(q["_pragma"], "busy_timeout") {
		add = append(add, fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout))
	}
	readOnly := uri && (q.Get("mode") == "ro" || q.Get("immutable") == "1")
	if !q.Has("_journal_mode") && !q.Has("_journal") && !setsPragma(q["_pragma"], "journal_mode") && !readOnly && q.Get("vfs") == "" {
		add = append(add, "_pragma=journal_mode("+sqliteJournalMode+")")
	}
	if !q.Has("_txlock") {
		add = append(add, "_txlock="+sqliteTxLock)
	}
	if len(add) == 0 {
		return dsn
	}
	if query != "" {
		query += "&"
	}
	return name + "?" + query + strings.Join(add, "&") + fragment
}

// connectSQLite opens db's connection, retrying while the file is busy for
// up to the busy timeout. Opening runs the DSN's pragmas, and switching a
// file to WAL needs it to itself: when several processes open a new file
// at once, all but one may get SQLITE_BUSY right away, without the busy
// timeout applying (SQLite does not wait for a lock upgrade that could
// deadlock). Once the file is in WAL mode, opening takes no such lock.
func connectSQLite(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), sqliteBusyTimeout*time.Millisecond)
	defer cancel()
	wait := time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || !sqliteBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY (primary result
// code 5), from a driver whose errors have Code() int, such as
// modernc.org/sqlite, or spelled out in the message.
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()&0xff == 5
	}
	return strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "database is locked")
}

// setsPragma reports whether one of the _pragma values sets the pragma
// named name, e.g. "busy_timeout(100)", "busy_timeout = 100" or
// "main.journal_mode(DELETE)".
func setsPragma(values []string, name string) bool {
	for _, v := range values {
		v = strings.ToLower(strings.TrimSpace(v))
		if i := strings.IndexAny(v, "(= \t"); i >= 0 {
			v = v[:i]
		}
		if i := strings.LastIndexByte(v, '.'); i >= 0 {
			v = v[i+1:]
		}
		if v == name {
			return true
		}
	}
	return false
}
