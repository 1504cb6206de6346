package mega

// Dev mode: what `mega dev` switches on in the apps it runs. Nothing here
// does anything unless the process environment has MEGA_DEV=1; the
// machinery is the middleware of framework/internal/devmode.

import (
	"io/fs"
	"net/http"
	"runtime"
	"strconv"

	"github.com/megaframework/mega/framework/internal/devmode"
)

// DevMode reports whether the process runs under `mega dev`, that is whether
// its environment has MEGA_DEV=1.
//
// In dev mode, and only then, every App:
//
//   - adds <script src="/_mega/dev.js"></script> to its text/html responses
//     (before </body>; GET requests from browsers only, never WebSocket
//     upgrades or compressed or partial responses);
//   - serves /_mega/dev.js, the live-reload script: it reloads the page when
//     a new build of the app is ready (its /readyz answers), or when mega dev
//     announces a changed static file, and shows compiler errors over the
//     page while a build is broken;
//   - serves /_mega/dev/events (a Server-Sent Events stream the script
//     listens to, fed by mega dev's notices over NATS from MEGA_DEV_NATS on
//     MEGA_DEV_SUBJECT) and /_mega/dev/info (the directories StaticFS serves
//     from disk, which mega dev reads to reload instead of rebuild).
//
// Outside dev mode none of these paths exist and responses are not touched.
func DevMode() bool { return devmode.Enabled() }

// StaticFS returns the directory dir of fsys, typically an embed.FS holding
// an app's static files:
//
//	//go:embed static
//	var static embed.FS
//
//	files := mega.StaticFS(static, "static")
//	r.Handle("/static/*", http.StripPrefix("/static/", http.FileServerFS(files)))
//
// In dev mode (see DevMode) it returns the same directory on disk instead,
// found next to the source file that calls StaticFS, so an edited file is
// served at once, without a rebuild, and mega dev only reloads the browser.
// When that directory is not on disk (a binary built with -trimpath, or run
// on another machine) it falls back to fsys. Outside dev mode it is
// fs.Sub(fsys, dir) and panics if dir is not a valid path, a programming
// error found at start-up.
func StaticFS(fsys fs.FS, dir string) fs.FS {
	return staticFS(fsys, dir)
}

// Static returns a file server for the directory dir of fsys, as StaticFS
// describes: served from fsys, or from disk in dev mode. In dev mode its
// responses carry Cache-Control: no-store, so a reload always fetches the
// edited file.
func Static(fsys fs.FS, dir string) http.Handler {
	files := http.FileServerFS(staticFS(fsys, dir))
	if !DevMode() {
		return files
	}
	return devmode.NoStore(files)
}

// staticFS implements StaticFS for StaticFS and Static, whose caller's
// source file locates dir on disk.
func staticFS(fsys fs.FS, dir string) fs.FS {
	_, file, _, _ := runtime.Caller(2)
	sub, err := devmode.StaticFS(fsys, dir, file)
	if err != nil {
		panic("mega: StaticFS(" + strconv.Quote(dir) + "): " + err.Error())
	}
	return sub
}

// newDev returns the dev mode of a new App, or nil when the process is not
// in dev mode.
func newDev() *devmode.Dev {
	if !DevMode() {
		return nil
	}
	return devmode.New(devmode.FromEnv())
}
