//go:build tools

// Package deps pins dependencies that no package of this module imports but
// whose versions it decides: modernc.org/sqlite is imported only by apps that
// `mega new` generates, and those resolve it through their replace of this
// module, so the version here is the version every generated app (and
// sample/crud's go.sum) gets. The tools build tag keeps it out of builds.
package deps

import (
	_ "github.com/coder/websocket"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/matryer/is"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/rs/zerolog"
	_ "github.com/urfave/cli/v2"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite"
)
