package devmode

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// StaticFS returns the directory dir of fsys (fs.Sub) and, in dev mode, the
// same directory on disk instead when there is one next to callerFile, the
// source file of the app's call: an edited file is then served at once,
// without a rebuild. A directory served from disk is listed in
// devproto.InfoPath's Info, so mega dev only reloads the pages when a file
// in it changes. It falls back to fsys when the directory is not on disk (a
// binary built with -trimpath, or run on another machine). The error is
// fs.Sub's: dir is not a valid path.
func StaticFS(fsys fs.FS, dir, callerFile string) (fs.FS, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil || !Enabled() || !filepath.IsAbs(callerFile) {
		return sub, err
	}
	disk := filepath.Join(filepath.Dir(callerFile), filepath.FromSlash(dir))
	if st, err := os.Stat(disk); err != nil || !st.IsDir() {
		return sub, nil
	}
	staticDirs.add(disk)
	return os.DirFS(disk), nil
}

// NoStore wraps a handler of static files served in dev mode: its responses
// carry Cache-Control: no-store, so a reload always fetches the edited file.
func NoStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// staticDirs lists the directories StaticFS serves from disk in this
// process; InfoPath reports them to mega dev.
var staticDirs dirList

type dirList struct {
	mu   sync.Mutex
	dirs []string
}

func (s *dirList) add(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.dirs, dir) {
		s.dirs = append(s.dirs, dir)
	}
}

func (s *dirList) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dirs)
}
