// Package templates holds the files mega's generator renders, embedded in
// the mega binary.
//
// The tree has five parts:
//
//	new/       a whole app (mega new): main.go, go.mod, mega.yaml, the chat
//	           channel, the chat page, README, Taskfile, tests
//	shared/    support files every app directory needs (JSON helpers, the
//	           name-based auth, test helpers); mega generate adds them when
//	           they are missing
//	resource/  one REST resource on SQLite, with tests (mega generate resource)
//	channel/   one WebSocket channel, with tests (mega generate channel)
//	auth/      accounts, sessions, tokens and private rooms, with tests, and
//	           the login form (mega generate auth; it also edits app.go,
//	           the resources' mounts and static/index.html)
//
// Naming rules the generator applies to paths:
//
//   - a file ending in .tmpl is a text/template (missingkey=error); the
//     suffix is dropped. Other files are copied byte for byte.
//   - the path element APP is the app's directory name (e.g. "main") and
//     NAME (alone or before "_test") the channel's or resource's name.
//   - a leading "dot-" becomes "." (embed skips dot files).
//
// Go sources are named *.go.tmpl, so this module never compiles them.
package templates

import "embed"

// FS is the template tree described in the package documentation.
//
//go:embed new shared resource channel auth
var FS embed.FS
