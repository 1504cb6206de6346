package mega_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
)

func TestSQLiteDSN(t *testing.T) {
	const defaults = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	tests := []struct {
		name, dsn, want string
	}{
		{"plain path", "app.db", "app.db?" + defaults},
		{"plain path in a directory", "data/app.db", "data/app.db?" + defaults},
		{"file URI", "file:app.db", "file:app.db?" + defaults},
		{"file URI with a query", "file:data/app.db?_time_format=sqlite", "file:data/app.db?_time_format=sqlite&" + defaults},
		{"file URI with a fragment", "file:app.db?cache=private#x", "file:app.db?cache=private&" + defaults + "#x"},
		{"absolute file URI", "file:///tmp/app.db", "file:///tmp/app.db?" + defaults},
		{"busy timeout kept", "file:app.db?_pragma=busy_timeout(100)",
			"file:app.db?_pragma=busy_timeout(100)&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"busy timeout as key = value", "file:app.db?_pragma=BUSY_TIMEOUT%20%3D%20100",
			"file:app.db?_pragma=BUSY_TIMEOUT%20%3D%20100&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"_busy_timeout kept", "app.db?_busy_timeout=100", "app.db?_busy_timeout=100&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"_timeout kept", "app.db?_timeout=100", "app.db?_timeout=100&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"journal mode kept", "file:app.db?_pragma=journal_mode(DELETE)",
			"file:app.db?_pragma=journal_mode(DELETE)&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"journal mode with schema kept", "file:app.db?_pragma=main.journal_mode(TRUNCATE)",
			"file:app.db?_pragma=main.journal_mode(TRUNCATE)&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"_journal_mode kept", "app.db?_journal_mode=DELETE", "app.db?_journal_mode=DELETE&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"_journal kept", "app.db?_journal=MEMORY", "app.db?_journal=MEMORY&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"txlock kept", "app.db?_txlock=deferred", "app.db?_txlock=deferred&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"},
		{"all set: unchanged", "file:app.db?_pragma=busy_timeout(1)&_pragma=journal_mode(DELETE)&_txlock=exclusive",
			"file:app.db?_pragma=busy_timeout(1)&_pragma=journal_mode(DELETE)&_txlock=exclusive"},
		{"other pragmas kept", "file:app.db?_pragma=foreign_keys(1)",
			"file:app.db?_pragma=foreign_keys(1)&" + defaults},
		{"read-only: no WAL", "file:app.db?mode=ro", "file:app.db?mode=ro&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"immutable: no WAL", "file:app.db?immutable=1", "file:app.db?immutable=1&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"other VFS: no WAL", "app.db?vfs=memdb", "app.db?vfs=memdb&_pragma=busy_timeout(5000)&_txlock=immediate"},
		{"memory", ":memory:", ":memory:"},
		{"memory with a query", ":memory:?_pragma=foreign_keys(1)", ":memory:?_pragma=foreign_keys(1)"},
		{"memory URI", "file::memory:?cache=shared", "file::memory:?cache=shared"},
		{"memory mode", "file:app?mode=memory&cache=shared", "file:app?mode=memory&cache=shared"},
		{"temporary database", "", ""},
		{"query that does not parse", "app.db?_pragma=%zz", "app.db?_pragma=%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(mega.SQLiteDSN(tt.dsn), tt.want)
		})
	}
}

// TestSQLiteDSNOpens checks the driver accepts what SQLiteDSN adds: the file
// ends up in WAL mode with the busy timeout set.
func TestSQLiteDSNOpens(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	env := sqliteEnv("file:" + filepath.Join(dir, "data", "app.db"))
	defer env.Close()
	db, err := env.Database("main")
	is.NoErr(err)
	var mode string
	var timeout int
	is.NoErr(db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	is.NoErr(db.QueryRow("PRAGMA busy_timeout").Scan(&timeout))
	is.Equal(mode, "wal")
	is.Equal(timeout, 5000)

	mem := sqliteEnv(":memory:")
	defer mem.Close()
	db, err = mem.Database("main")
	is.NoErr(err)
	is.NoErr(db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	is.Equal(mode, "memory") // left alone
}

func sqliteEnv(dsn string) *mega.Env {
	cfg := config.Default()
	cfg.Services.Databases["main"] = config.Database{Driver: "sqlite", DSN: dsn}
	return mega.NewEnv("main", cfg, zerolog.Nop())
}

// TestSQLiteSharedFile starts 2, then 3 real processes together on one
// database file, as instances of an app sharing DATABASE_URL=file:app.db do,
// ten rounds each on a new file: every process creates the table and writes
// concurrently (half the rows in read-then-write transactions). No process
// may fail (SQLITE_BUSY was the failure), and every row must be there.
//
// To measure other settings, SQLITE_SHARE_ARGS adds flags to
// testdata/sqliteshare ("-raw": the DSN without the framework's defaults)
// and SQLITE_SHARE_QUERY a query to the DSN ("_txlock=deferred").
func TestSQLiteSharedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 50 processes")
	}
	bin := filepath.Join(t.TempDir(), "sqliteshare")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sqliteshare").CombinedOutput(); err != nil {
		t.Fatalf("build sqliteshare: %v\n%s", err, out)
	}
	const rounds, writers, writes = 10, 4, 10
	extra := strings.Fields(os.Getenv("SQLITE_SHARE_ARGS"))
	for _, procs := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d processes", procs), func(t *testing.T) {
			failed, busy := 0, 0
			start := time.Now()
			for round := range rounds {
				path := filepath.Join(t.TempDir(), "app.db")
				dsn := "file:" + path
				if round%2 == 1 {
					dsn = path // a plain path, as some type it
				}
				if q := os.Getenv("SQLITE_SHARE_QUERY"); q != "" {
					dsn += "?" + q
				}
				args := append([]string{"-writers", fmt.Sprint(writers), "-writes", fmt.Sprint(writes)}, extra...)
				for i, res := range runTogether(t, bin, dsn, procs, args) {
					if res.err != nil {
						failed++
						if strings.Contains(res.stderr, "SQLITE_BUSY") || strings.Contains(res.stderr, "database is locked") {
							busy++
						}
						t.Errorf("round %d, process %d (%s): %v\n%s", round, i, dsn, res.err, res.stderr)
					}
				}
				if failed == 0 {
					checkRows(t, dsn, procs, writers*writes)
				}
			}
			t.Logf("%d rounds × %d processes × %d rows (%d writers each): %d processes failed, %d with SQLITE_BUSY, in %s",
				rounds, procs, writers*writes, writers, failed, busy, time.Since(start).Round(time.Millisecond))
		})
	}
}

// shareResult is how one sqliteshare process ended.
type shareResult struct {
	err    error
	stderr string
}

// runTogether starts procs sqliteshare processes on dsn, waits until each
// has printed "ready", releases them all at once and waits for them to exit.
func runTogether(t *testing.T, bin, dsn string, procs int, args []string) []shareResult {
	t.Helper()
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stderr bytes.Buffer
		ready  chan error
		done   chan error
	}
	ps := make([]*proc, procs)
	for i := range ps {
		p := &proc{ready: make(chan error, 1), done: make(chan error, 1)}
		p.cmd = exec.Command(bin, append([]string{"-dsn", dsn, "-id", fmt.Sprint("p", i)}, args...)...)
		p.cmd.Stderr = &p.stderr
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := p.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("want \"ready\", got %q", line)
			}
			p.ready <- err
			_, _ = io.Copy(io.Discard, stdout) // until the process exits
			p.done <- p.cmd.Wait()
		}()
		ps[i] = p
	}
	deadline := time.After(60 * time.Second)
	for _, p := range ps {
		select {
		case err := <-p.ready:
			if err != nil {
				t.Fatalf("process did not get ready: %v\n%s", err, p.stderr.String())
			}
		case <-deadline:
			t.Fatal("processes not ready after 60s")
		}
	}
	for _, p := range ps { // release them together
		_, _ = io.WriteString(p.stdin, "go\n")
	}
	out := make([]shareResult, procs)
	for i, p := range ps {
		select {
		case err := <-p.done:
			out[i] = shareResult{err: err, stderr: p.stderr.String()}
		case <-deadline:
			for _, p := range ps {
				_ = p.cmd.Process.Kill()
			}
			for _, p := range ps {
				<-p.done
			}
			t.Fatal("processes still running after 60s")
		}
	}
	return out
}

// checkRows checks the file holds every row each of procs processes wrote,
// once, and is in WAL mode.
func checkRows(t *testing.T, dsn string, procs, rows int) {
	t.Helper()
	is := is.New(t)
	env := sqliteEnv(dsn)
	defer env.Close()
	db, err := env.Database("main")
	is.NoErr(err)
	var total, distinct int
	is.NoErr(db.QueryRow("SELECT count(*), count(DISTINCT process || '/' || n) FROM rows").Scan(&total, &distinct))
	is.Equal(total, procs*rows)
	is.Equal(distinct, procs*rows)
	if os.Getenv("SQLITE_SHARE_QUERY") == "" {
		var mode string
		is.NoErr(db.QueryRow("PRAGMA journal_mode").Scan(&mode))
		is.Equal(mode, "wal")
	}
}
