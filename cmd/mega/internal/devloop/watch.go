package devloop

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Change is one file whose content changed, appeared or went away.
type Change struct {
	// Path is slash-separated and relative to the watched directory.
	Path    string
	Kind    Kind
	Removed bool
}

// Batch is a burst of changes that settled: no event for the debounce
// delay.
type Batch struct {
	Changes []Change
	// First is when the burst's first event arrived: the save.
	First time.Time
}

// Paths returns the changed paths of kind k.
func (b Batch) Paths(k Kind) []string {
	var out []string
	for _, c := range b.Changes {
		if c.Kind == k {
			out = append(out, c.Path)
		}
	}
	return out
}

// Has reports whether the batch has a change of kind k.
func (b Batch) Has(k Kind) bool { return len(b.Paths(k)) > 0 }

// maxHashSize is the largest file whose content is hashed; larger files
// are compared by size and modification time.
const maxHashSize = 64 << 20

type digest [sha256.Size]byte

// Watcher watches a directory tree recursively (new directories included)
// and reports debounced batches of files whose content really changed:
// a touch, a save without edits, or an editor's temp file is no change.
type Watcher struct {
	root     string
	delay    time.Duration
	maxDelay time.Duration
	fw       *fsnotify.Watcher
	onError  func(error)
	files    int // watched files at start

	// Owned by the loop goroutine after NewWatcher returns.
	hashes   map[string]digest // watched files by relative path
	deferred map[string]bool   // empty files given one more delay

	out  chan Batch
	stop chan struct{}
	done chan struct{}
}

// NewWatcher starts watching root. delay is the debounce: a batch is
// reported once no event arrived for delay (and at the latest 10 × delay,
// at least 2 s, after its first event, so a steady stream of writes cannot
// hold changes back forever). onError, if not nil, receives watch errors.
func NewWatcher(root string, delay time.Duration, onError func(error)) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("devloop: watch %s: %w", root, err)
	}
	if onError == nil {
		onError = func(error) {}
	}
	w := &Watcher{
		root:     root,
		delay:    delay,
		maxDelay: max(10*delay, 2*time.Second),
		fw:       fw,
		onError:  onError,
		hashes:   make(map[string]digest),
		deferred: make(map[string]bool),
		out:      make(chan Batch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	files, err := w.addTree(root)
	if err != nil {
		_ = fw.Close()
		return nil, err
	}
	w.files = len(files)
	for _, rel := range files {
		if d, err := hashFile(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
			w.hashes[rel] = d
		}
	}
	go w.loop()
	return w, nil
}

// Batches delivers the settled batches. While nobody receives, new changes
// are merged into the batch waiting to be delivered.
func (w *Watcher) Batches() <-chan Batch { return w.out }

// Close stops watching and waits for the watcher's goroutine to end.
func (w *Watcher) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	return w.fw.Close()
}

// addTree watches dir and every directory below it that is not skipped,
// and returns the relative paths of the files found that Classify does not
// ignore.
func (w *Watcher) addTree(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // vanished or unreadable: skip it
		}
		if d.IsDir() {
			if p != w.root && SkipDir(d.Name()) {
				return filepath.SkipDir
			}
			if err := w.fw.Add(p); err != nil {
				if p == dir {
					return err
				}
				w.onError(fmt.Errorf("devloop: watch %s: %w", p, err))
			}
			return nil
		}
		if rel, ok := w.rel(p); ok && Classify(rel) != Ignore {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devloop: watch %s: %w", dir, err)
	}
	return files, nil
}

// rel returns p relative to the root, slash-separated.
func (w *Watcher) rel(p string) (string, bool) {
	r, err := filepath.Rel(w.root, p)
	if err != nil || r == "." || strings.HasPrefix(r, "..") {
		return "", false
	}
	return filepath.ToSlash(r), true
}

func (w *Watcher) loop() {
	defer close(w.done)
	pending := make(map[string]bool)
	var first time.Time // first event of the pending burst
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var ready Batch // settled, waiting to be received

	arm := func(now time.Time) {
		if first.IsZero() {
			first = now
		}
		wait := min(w.delay, first.Add(w.maxDelay).Sub(now))
		timer.Reset(max(wait, 0))
	}
	for {
		var out chan Batch
		if len(ready.Changes) > 0 {
			out = w.out
		}
		select {
		case <-w.stop:
			timer.Stop()
			return
		case out <- ready:
			ready = Batch{}
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.event(ev, pending) {
				arm(time.Now())
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.rescan(pending) // events were lost: compare everything
				arm(time.Now())
				continue
			}
			w.onError(fmt.Errorf("devloop: watch: %w", err))
		case <-timer.C:
			changes, retry := w.settle(pending)
			if len(changes) > 0 {
				if ready.First.IsZero() {
					ready.First = first
				}
				ready.Changes = merge(ready.Changes, changes)
			}
			pending = retry
			if len(pending) > 0 {
				timer.Reset(w.delay)
			} else {
				first = time.Time{}
			}
		}
	}
}

// event records ev in pending; it reports whether anything was recorded.
func (w *Watcher) event(ev fsnotify.Event, pending map[string]bool) bool {
	rel, ok := w.rel(ev.Name)
	if !ok {
		return false
	}
	recorded := false
	if ev.Has(fsnotify.Create) {
		if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
			if SkipDir(filepath.Base(ev.Name)) {
				return false
			}
			// A new directory: watch it, and look at what is already in it
			// (files may have been written before the watch was added).
			files, err := w.addTree(ev.Name)
			if err != nil {
				w.onError(err)
			}
			for _, f := range files {
				pending[f] = true
				recorded = true
			}
			return recorded
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// A directory that went away takes its files with it.
		prefix := rel + "/"
		for p := range w.hashes {
			if strings.HasPrefix(p, prefix) {
				pending[p] = true
				recorded = true
			}
		}
	}
	if Classify(rel) == Ignore {
		return recorded
	}
	if ev.Op == fsnotify.Chmod {
		return recorded // attributes only, e.g. a touch
	}
	pending[rel] = true
	return true
}

// rescan re-watches the tree and marks every known and found file pending.
func (w *Watcher) rescan(pending map[string]bool) {
	files, err := w.addTree(w.root)
	if err != nil {
		w.onError(err)
	}
	for _, f := range files {
		pending[f] = true
	}
	for p := range w.hashes {
		pending[p] = true
	}
}

// settle compares the pending files with their last known content and
// returns the real changes, plus the files to look at again after one more
// delay: a file that just became empty is most likely being rewritten.
func (w *Watcher) settle(pending map[string]bool) (changes []Change, retry map[string]bool) {
	retry = make(map[string]bool)
	paths := make([]string, 0, len(pending))
	for p := range pending {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, rel := range paths {
		abs := filepath.Join(w.root, filepath.FromSlash(rel))
		kind := Classify(rel)
		st, err := os.Stat(abs)
		if err != nil {
			delete(w.deferred, rel)
			if _, known := w.hashes[rel]; known && errors.Is(err, fs.ErrNotExist) {
				delete(w.hashes, rel)
				changes = append(changes, Change{Path: rel, Kind: kind, Removed: true})
			}
			continue
		}
		if st.IsDir() {
			continue
		}
		if st.Size() == 0 && !w.deferred[rel] {
			w.deferred[rel] = true
			retry[rel] = true
			continue
		}
		delete(w.deferred, rel)
		d, err := hashFile(abs)
		if err != nil {
			continue // vanished meanwhile: its removal is another event
		}
		if old, known := w.hashes[rel]; known && old == d {
			continue // same content: a touch, or a save without edits
		}
		w.hashes[rel] = d
		changes = append(changes, Change{Path: rel, Kind: kind})
	}
	return changes, retry
}

// merge adds changes to a batch waiting for delivery; a later change of a
// path replaces the earlier one.
func merge(into, changes []Change) []Change {
	for _, c := range changes {
		i := slices.IndexFunc(into, func(o Change) bool { return o.Path == c.Path })
		if i >= 0 {
			into[i] = c
		} else {
			into = append(into, c)
		}
	}
	return into
}

// hashFile returns the SHA-256 of a file's content, or of its size and
// modification time when it is larger than maxHashSize.
func hashFile(p string) (digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return digest{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return digest{}, err
	}
	h := sha256.New()
	if st.Size() > maxHashSize {
		fmt.Fprintf(h, "size=%d mtime=%d", st.Size(), st.ModTime().UnixNano())
	} else if _, err := io.Copy(h, f); err != nil {
		return digest{}, err
	}
	var d digest
	h.Sum(d[:0])
	return d, nil
}
