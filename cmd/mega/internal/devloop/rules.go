package devloop

import (
	"path"
	"strings"
)

// Kind is what a changed file asks of the dev loop.
type Kind int

const (
	// Ignore: not something the app is built or served from.
	Ignore Kind = iota
	// Asset: a static or template file. When the running app serves its
	// directory from disk (mega.StaticFS in dev mode) browsers are reloaded;
	// otherwise the app is rebuilt, since the file may be embedded.
	Asset
	// Config: mega.yaml or another YAML file at the app's root, read at
	// start-up: the instances restart with the same binary.
	Config
	// Source: Go code or the module files: the app is rebuilt.
	Source
)

// String returns the kind's name as status lines show it.
func (k Kind) String() string {
	switch k {
	case Asset:
		return "asset"
	case Config:
		return "config"
	case Source:
		return "source"
	}
	return "ignore"
}

// skippedDirs are never watched, at any depth.
var skippedDirs = map[string]bool{
	"tmp": true, "bin": true, "vendor": true, "node_modules": true, "testdata": true,
}

// SkipDir reports whether a directory named name is left out of the watch,
// with everything below it: tool and output directories (tmp, bin, vendor,
// node_modules, testdata) and dot- and underscore-directories (.git, .idea,
// _build, …).
func SkipDir(name string) bool {
	if name == "." || name == "" {
		return false
	}
	return skippedDirs[name] || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// TempFile reports whether name (a base name) is a file editors write while
// saving or as a lock or backup: Vim's "4913", "*.sw?" swap files and "*~"
// backups, Emacs's ".#*" locks and "#*#" autosaves, JetBrains' "*___jb_*___"
// safe-write files, Kate's "*.kate-swp", gedit's ".goutputstream-*", and
// other dot files.
func TempFile(name string) bool {
	switch {
	case name == "4913",
		strings.HasSuffix(name, "~"),
		strings.HasPrefix(name, "."), // .#main.go, .main.go.swp, .DS_Store, .goutputstream-*
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"),
		strings.Contains(name, "___jb_") && strings.HasSuffix(name, "___"),
		strings.HasSuffix(name, ".kate-swp"),
		strings.HasSuffix(name, ".tmp"):
		return true
	}
	if ext := path.Ext(name); len(ext) == 4 && strings.HasPrefix(ext, ".sw") {
		return true // .swp, .swo, .swx, …
	}
	return false
}

// assetExts are the non-Go files an app is built or served from.
var assetExts = map[string]bool{
	".html": true, ".htm": true, ".tmpl": true, ".gohtml": true, ".tpl": true,
	".css": true, ".js": true, ".mjs": true, ".map": true,
	".svg": true, ".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".ico": true,
	".woff": true, ".woff2": true, ".sql": true,
}

// staticDirs hold assets whatever their extension.
var staticDirs = map[string]bool{"static": true, "public": true, "assets": true}

// Classify says what a change to the file at rel, a slash-separated path
// relative to the app's directory, asks for.
func Classify(rel string) Kind {
	rel = path.Clean(strings.TrimPrefix(rel, "./"))
	dir, name := path.Split(rel)
	inStatic := false
	for _, d := range strings.Split(strings.Trim(dir, "/"), "/") {
		if SkipDir(d) {
			return Ignore
		}
		inStatic = inStatic || staticDirs[d]
	}
	if TempFile(name) {
		return Ignore
	}
	ext := path.Ext(name)
	switch {
	case ext == ".go":
		if strings.HasSuffix(name, "_test.go") {
			return Ignore // not part of the binary
		}
		return Source
	case name == "go.mod" || name == "go.sum":
		return Source
	case dir == "" && (ext == ".yaml" || ext == ".yml"):
		return Config
	case inStatic || assetExts[ext]:
		return Asset
	}
	return Ignore
}
