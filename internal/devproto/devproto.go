// Package devproto is the protocol between `mega dev` (the supervisor in
// cmd/mega/internal/devloop) and the dev mode of the apps it runs
// (framework/internal/devmode): the environment the supervisor sets, the
// NATS subject and the notices it publishes there, and the paths an app
// serves in dev mode. Both sides use these declarations; neither writes
// the names or the JSON by hand.
//
// The wire shapes are:
//
//	{"files":["static/style.css"],"type":"reload"}   Reload
//	{"ok":true,"type":"build"}                       Build, a good build
//	{"ok":false,"output":"…","type":"build"}         Build, a failed one
//	{"id":"…"}                                       Hello, the event stream's first event
//	{"id":"…","static":["/abs/dir"]}                 Info, GET InfoPath
package devproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Environment variables mega dev sets for the apps it runs (besides PORT
// and NATS_URL, which every app reads).
const (
	// EnvDev switches dev mode on when it is "1" or "true" (see Enabled).
	EnvDev = "MEGA_DEV"
	// EnvNATS is the URL of the NATS server mega dev publishes its notices on.
	EnvNATS = "MEGA_DEV_NATS"
	// EnvSubject is the subject of those notices; DefaultSubject when unset.
	// mega dev picks a random one per run, so two developers sharing a NATS
	// do not reload each other's pages.
	EnvSubject = "MEGA_DEV_SUBJECT"
	// EnvInstance is the instance's number, 0, 1, … with --instances.
	EnvInstance = "MEGA_DEV_INSTANCE"
)

// DefaultSubject is the subject of mega dev's notices when EnvSubject is
// not set; mega dev's own subjects are below it ("mega.dev.<random>").
const DefaultSubject = "mega.dev"

// Paths an app serves in dev mode, relative to where it is mounted.
const (
	// ScriptPath serves the live-reload script added to HTML pages.
	ScriptPath = "/_mega/dev.js"
	// EventsPath serves the Server-Sent Events stream the script listens
	// to: Hello first, then every notice.
	EventsPath = "/_mega/dev/events"
	// InfoPath serves Info, which mega dev reads once an instance is ready.
	InfoPath = "/_mega/dev/info"
)

// Enabled reports whether v, the value of EnvDev, turns dev mode on: "1"
// or "true" in any case.
func Enabled(v string) bool { return v == "1" || strings.EqualFold(v, "true") }

// Notice types, the "type" of a notice.
const (
	TypeReload = "reload"
	TypeBuild  = "build"
)

// Notice is what mega dev publishes to the apps, which forward it to the
// pages' scripts: a Reload or a Build.
type Notice interface {
	// Type returns the notice's "type".
	Type() string
}

// Reload asks pages to reload: the script reloads the page, or only its
// stylesheets when every file is CSS.
type Reload struct {
	// Files are the changed files, relative to the app's directory, with
	// forward slashes.
	Files []string
}

// Build reports the outcome of a build: a failed one shows its output over
// the pages until a good one hides it.
type Build struct {
	// OK reports whether the build succeeded.
	OK bool
	// Output is the compiler's output of a failed build.
	Output string
}

// Type returns TypeReload.
func (Reload) Type() string { return TypeReload }

// Type returns TypeBuild.
func (Build) Type() string { return TypeBuild }

// reloadWire and buildWire are the notices on the wire: the keys in the
// order mega dev has always written them (sorted), "output" only when a
// build failed.
type reloadWire struct {
	Files []string `json:"files"`
	Type  string   `json:"type"`
}

type buildWire struct {
	OK     bool    `json:"ok"`
	Output *string `json:"output,omitempty"`
	Type   string  `json:"type"`
}

// MarshalJSON encodes r as {"files":[…],"type":"reload"}.
func (r Reload) MarshalJSON() ([]byte, error) {
	return json.Marshal(reloadWire{Files: r.Files, Type: TypeReload})
}

// MarshalJSON encodes b as {"ok":true,"type":"build"}, or with the output
// of a failed build: {"ok":false,"output":"…","type":"build"}.
func (b Build) MarshalJSON() ([]byte, error) {
	w := buildWire{OK: b.OK, Type: TypeBuild}
	if !b.OK {
		w.Output = &b.Output
	}
	return json.Marshal(w)
}

// Encode returns the JSON of a notice, as mega dev publishes it.
func Encode(n Notice) ([]byte, error) {
	if n == nil {
		return nil, errors.New("devproto: encode: no notice")
	}
	data, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("devproto: encode %s notice: %w", n.Type(), err)
	}
	return data, nil
}

// Errors of Decode.
var (
	// ErrMalformed is a notice that is not a JSON object of the right
	// shape.
	ErrMalformed = errors.New("devproto: malformed notice")
	// ErrUnknownType is a well-formed notice of a type this version does
	// not know.
	ErrUnknownType = errors.New("devproto: unknown notice type")
)

// notice is any notice on the wire, for Decode.
type notice struct {
	Type   string   `json:"type"`
	Files  []string `json:"files"`
	OK     *bool    `json:"ok"`
	Output string   `json:"output"`
}

// Decode parses a notice published by mega dev. A notice that is not a
// JSON object, has no "type", or whose fields have the wrong types is an
// error matching ErrMalformed; a type other than TypeReload and TypeBuild
// one matching ErrUnknownType.
func Decode(data []byte) (Notice, error) {
	var w notice
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch w.Type {
	case TypeReload:
		return Reload{Files: w.Files}, nil
	case TypeBuild:
		if w.OK == nil {
			return nil, fmt.Errorf(`%w: a build notice needs "ok"`, ErrMalformed)
		}
		return Build{OK: *w.OK, Output: w.Output}, nil
	case "":
		return nil, fmt.Errorf(`%w: no "type"`, ErrMalformed)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownType, w.Type)
}

// Hello is the first event of EventsPath's stream. ID changes with every
// process, so a script that sees another one after reconnecting knows the
// app was restarted and reloads the page.
type Hello struct {
	ID string `json:"id"`
}

// Info is what InfoPath serves: the process's id and the directories that
// mega.StaticFS serves from disk (absolute paths), so that mega dev reloads
// pages instead of rebuilding when a file in one of them changes.
type Info struct {
	ID     string   `json:"id"`
	Static []string `json:"static"`
}
