// Command sqliteshare is one of several processes the SQLite tests start
// together on one database file, the way instances of an app share
// DATABASE_URL=file:app.db. It opens the database through mega.Env as the
// boot does, creates a table as an app's factory does, then writes
// concurrently.
//
// It prints "ready" once it is about to open the database and waits for a
// line on stdin before going on, so the test can release every process at
// the same moment. It exits 0 when every statement succeeded, 1 otherwise,
// printing each error on stderr.
//
// With -raw it opens the DSN with database/sql directly (one connection, no
// DSN defaults): what Env.Database did before it rewrote SQLite DSNs, kept to
// measure the difference.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
)

func main() {
	dsn := flag.String("dsn", "", "the database DSN")
	id := flag.String("id", "p", "this process's name, stored with each row")
	writers := flag.Int("writers", 4, "goroutines writing at once")
	writes := flag.Int("writes", 25, "rows each writer inserts")
	raw := flag.Bool("raw", false, "open the DSN as given, without Env.Database")
	flag.Parse()

	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "waiting for the start line:", err)
		os.Exit(1)
	}

	if err := run(*dsn, *id, *writers, *writes, *raw); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(dsn, id string, writers, writes int, raw bool) error {
	db, closeDB, err := open(dsn, raw)
	if err != nil {
		return err
	}
	defer closeDB()

	ctx := context.Background()
	// What every instance of the sample app does at boot.
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rows (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		process TEXT NOT NULL,
		n INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create table rows: %w", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				n := w*writes + i
				if err := write(ctx, db, id, n, i%2 == 1); err != nil {
					errs <- fmt.Errorf("writer %d, row %d: %w", w, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// write inserts one row: alone (autocommit) or, when inTx, in a transaction
// that reads before it writes, as code that checks before inserting does.
func write(ctx context.Context, db *sql.DB, id string, n int, inTx bool) error {
	if !inTx {
		_, err := db.ExecContext(ctx, `INSERT INTO rows (process, n) VALUES (?, ?)`, id, n)
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var seen int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rows WHERE process = ? AND n = ?`, id, n).Scan(&seen); err != nil {
		return fmt.Errorf("select: %w", err)
	}
	if seen == 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rows (process, n) VALUES (?, ?)`, id, n); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	return tx.Commit()
}

// open opens the database named "main" with dsn through mega.Env, or
// directly when raw is set.
func open(dsn string, raw bool) (*sql.DB, func(), error) {
	if raw {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, nil, err
		}
		db.SetMaxOpenConns(1)
		return db, func() { _ = db.Close() }, nil
	}
	cfg := config.Default()
	cfg.Services.Databases["main"] = config.Database{Driver: "sqlite", DSN: dsn}
	env := mega.NewEnv("main", cfg, zerolog.Nop())
	db, err := env.Database("main")
	if err != nil {
		return nil, nil, err
	}
	return db, func() { _ = env.Close() }, nil
}
