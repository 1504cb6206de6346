package mega

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"

	"github.com/go-chi/chi/v5"
)

// ClientPath is where every App serves the browser client, an ES module
// with no dependencies: import { connect, Presence } from "/_mega/client.js".
// Its TypeScript declarations are at ClientTypesPath. See docs/client.md.
const (
	ClientPath      = "/_mega/client.js"
	ClientTypesPath = "/_mega/client.d.ts"
)

//go:embed client/client.js client/client.d.ts
var clientFiles embed.FS

// clientAsset is one embedded client file, ready to serve.
type clientAsset struct {
	name        string
	body        []byte
	etag        string
	contentType string
}

var clientAssets = []clientAsset{
	loadClientAsset(ClientPath, "client/client.js", "text/javascript; charset=utf-8"),
	loadClientAsset(ClientTypesPath, "client/client.d.ts", "application/typescript; charset=utf-8"),
}

func loadClientAsset(route, file, contentType string) clientAsset {
	body, err := clientFiles.ReadFile(file)
	if err != nil {
		panic(err) // cannot happen: the file is embedded above
	}
	sum := sha256.Sum256(body)
	return clientAsset{
		name:        route,
		body:        body,
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		contentType: contentType,
	}
}

// mountClient serves the client files on r. Browsers revalidate on every
// load (Cache-Control: no-cache) and get 304 Not Modified while the ETag,
// a hash of the content, is unchanged: a new binary is picked up on the
// next reload, an unchanged one costs no body.
func mountClient(r chi.Router) {
	for _, a := range clientAssets {
		h := a.handler()
		r.Get(a.name, h)
		r.Head(a.name, h)
	}
}

func (a clientAsset) handler() http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if a.name == ClientPath {
			// Deno and some editors fetch the declarations from this header.
			h.Set("X-TypeScript-Types", ClientTypesPath)
		}
		// ServeContent answers If-None-Match with 304, HEAD and ranges.
		http.ServeContent(w, req, path.Base(a.name), time.Time{}, bytes.NewReader(a.body))
	}
}
