package devloop

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

const testDelay = 40 * time.Millisecond

// tree creates files (relative path → content) under a temp dir.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		write(t, dir, p, content)
	}
	return dir
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func startWatcher(t *testing.T, dir string) *Watcher {
	t.Helper()
	w, err := NewWatcher(dir, testDelay, func(err error) { t.Errorf("watch error: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// next returns the next batch, failing after a deadline.
func next(t *testing.T, w *Watcher) Batch {
	t.Helper()
	select {
	case b := <-w.Batches():
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no batch within 5s")
		return Batch{}
	}
}

func paths(b Batch) []string {
	var out []string
	for _, c := range b.Changes {
		p := c.Path
		if c.Removed {
			p = "-" + p
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// sentinel makes a real change to sentinel.go and returns the batch that
// carries it: whatever was done before it and did not count is absent.
func sentinel(t *testing.T, w *Watcher, dir string) Batch {
	t.Helper()
	write(t, dir, "sentinel.go", "package main // "+time.Now().String())
	return next(t, w)
}

func TestWatcherReportsContentChanges(t *testing.T) {
	is := is.New(t)
	dir := tree(t, map[string]string{"main.go": "package main", "go.mod": "module x", "apps/main/static/index.html": "<p>"})
	w := startWatcher(t, dir)

	write(t, dir, "main.go", "package main\n\nfunc main() {}\n")
	b := next(t, w)
	is.Equal(paths(b), []string{"main.go"})
	is.Equal(b.Changes[0].Kind, Source)
	is.True(!b.First.IsZero())

	write(t, dir, "apps/main/static/index.html", "<p>hi")
	b = next(t, w)
	is.Equal(paths(b), []string{"apps/main/static/index.html"})
	is.Equal(b.Changes[0].Kind, Asset)

	is.NoErr(os.Remove(filepath.Join(dir, "main.go")))
	is.Equal(paths(next(t, w)), []string{"-main.go"})
}

func TestWatcherIgnoresNonChanges(t *testing.T) {
	is := is.New(t)
	dir := tree(t, map[string]string{"main.go": "package main", "README.md": "hi"})
	w := startWatcher(t, dir)

	// A touch, and a save of the same content.
	later := time.Now().Add(time.Hour)
	is.NoErr(os.Chtimes(filepath.Join(dir, "main.go"), later, later))
	write(t, dir, "main.go", "package main")
	// Editors' temp and backup files, in the root and in a new directory.
	for _, name := range []string{"4913", ".main.go.swp", "main.go~", ".#main.go", "#main.go#", "main.go___jb_tmp___", "main.go.tmp"} {
		write(t, dir, name, "x")
		write(t, dir, "apps/main/"+name, "x")
	}
	// Files the app is not built from, and ignored directories.
	write(t, dir, "README.md", "changed")
	write(t, dir, "data/app.db", "x")
	for _, d := range []string{".git", "tmp", "bin", "vendor", "node_modules", "testdata", ".idea", "_old"} {
		write(t, dir, d+"/x.go", "package x")
	}
	write(t, dir, "apps/main/x_test.go", "package main")

	is.Equal(paths(sentinel(t, w, dir)), []string{"sentinel.go"})
}

func TestWatcherDebouncesBursts(t *testing.T) {
	is := is.New(t)
	dir := tree(t, map[string]string{"main.go": "package main", "a.go": "package main"})
	w := startWatcher(t, dir)

	for i := range 20 {
		write(t, dir, "main.go", "package main // "+strings.Repeat("x", i))
		write(t, dir, "a.go", "package main // "+strings.Repeat("y", i))
	}
	// 40 writes come as a few batches, each naming a file once: usually
	// one, but a loaded machine may pause the burst for longer than the
	// debounce delay, which then rightly ends a batch. A sentinel written
	// after the burst marks its end.
	write(t, dir, "sentinel.go", "package main // "+time.Now().String())
	batches, seen := 0, map[string]bool{}
	for !seen["sentinel.go"] {
		got := paths(next(t, w))
		batches++
		is.Equal(len(got), len(slices.Compact(slices.Clone(got)))) // each file once per batch
		for _, p := range got {
			is.True(p == "a.go" || p == "main.go" || p == "sentinel.go")
			seen[p] = true
		}
	}
	is.True(seen["a.go"] && seen["main.go"])
	is.True(batches <= 4) // debounced: not one batch per write
}

func TestWatcherPicksUpNewDirectories(t *testing.T) {
	is := is.New(t)
	dir := tree(t, map[string]string{"main.go": "package main"})
	w := startWatcher(t, dir)

	// Created with its parents in one go: the files land before the new
	// directories are watched, and must still be seen.
	write(t, dir, "apps/chat/channel/chat.go", "package channel")
	is.Equal(paths(next(t, w)), []string{"apps/chat/channel/chat.go"})

	// Later writes in the new directory are watched.
	write(t, dir, "apps/chat/channel/chat.go", "package channel // v2")
	is.Equal(paths(next(t, w)), []string{"apps/chat/channel/chat.go"})

	// A removed directory takes its files with it.
	is.NoErr(os.RemoveAll(filepath.Join(dir, "apps")))
	is.Equal(paths(next(t, w)), []string{"-apps/chat/channel/chat.go"})
}

func TestWatcherWaitsOutEmptyWrites(t *testing.T) {
	is := is.New(t)
	dir := tree(t, map[string]string{"main.go": "package main"})
	w := startWatcher(t, dir)

	// An editor truncates, then writes: the end result is one change.
	write(t, dir, "main.go", "")
	write(t, dir, "main.go", "package main // v2")
	is.Equal(paths(next(t, w)), []string{"main.go"})
}

// TestSettleEmptyFile drives the deferral directly: a file that became
// empty is looked at again one delay later, and counts only then.
func TestSettleEmptyFile(t *testing.T) {
	is := is.New(t)
	dir := tree(t, map[string]string{"main.go": "package main", "style.css": "a{}"})
	w := &Watcher{root: dir, hashes: map[string]digest{}, deferred: map[string]bool{}}
	for _, p := range []string{"main.go", "style.css"} {
		d, err := hashFile(filepath.Join(dir, p))
		is.NoErr(err)
		w.hashes[p] = d
	}

	write(t, dir, "main.go", "")
	changes, retry := w.settle(map[string]bool{"main.go": true})
	is.Equal(len(changes), 0)                         // not yet
	is.Equal(retry, map[string]bool{"main.go": true}) // looked at again

	write(t, dir, "main.go", "package main // v2") // the editor finished
	changes, retry = w.settle(retry)
	is.Equal(changes, []Change{{Path: "main.go", Kind: Source}})
	is.Equal(len(retry), 0)

	// A file left empty counts after the second look.
	write(t, dir, "style.css", "")
	_, retry = w.settle(map[string]bool{"style.css": true})
	changes, _ = w.settle(retry)
	is.Equal(changes, []Change{{Path: "style.css", Kind: Asset}})

	// Same content again: no change.
	changes, _ = w.settle(map[string]bool{"main.go": true})
	is.Equal(len(changes), 0)
}
