package mainapp

import (
	"embed"
	"net/http"

	"github.com/go-chi/chi/v5"
	mega "github.com/megaframework/mega/framework"
)

// static holds the chat page: plain HTML, CSS and JavaScript, no build
// step. The page uses mega's browser client, which every app serves at
// /_mega/client.js.
//
//go:embed static
var static embed.FS

// mountPage serves the chat page at / and its files under /static/. Under
// mega dev they are read from disk, so an edited file shows on reload.
func mountPage(r chi.Router) {
	files := mega.StaticFS(static, "static")
	assets := http.StripPrefix("/static/", http.FileServerFS(files))
	r.Get("/", func(w http.ResponseWriter, req *http.Request) {
		pageHeaders(w)
		http.ServeFileFS(w, req, files, "index.html")
	})
	r.Get("/static/*", func(w http.ResponseWriter, req *http.Request) {
		pageHeaders(w)
		assets.ServeHTTP(w, req)
	})
}

// pageHeaders keeps the page to its own origin and makes browsers check
// for a new version on every load.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
}
