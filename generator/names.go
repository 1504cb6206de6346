package generator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// ErrInvalid matches, with errors.Is, every error about a name, a module
// path or a field given on the command line (as opposed to a problem with
// the files on disk).
var ErrInvalid = errors.New("invalid argument")

// invalid returns an error matching ErrInvalid with a message of its own.
func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// appNamePattern: a directory name that is also a module path element.
var appNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// CheckAppName reports whether name can be the directory and default
// module path of a new app: lowercase letters, digits, '-' and '_',
// starting with a letter, at most 64 characters, and not the name of a
// standard library package.
func CheckAppName(name string) error {
	switch {
	case name == "":
		return invalid("the app needs a name, e.g. mega new chatapp")
	case len(name) > 64:
		return invalid("app name %q is %d characters long; use at most 64", name, len(name))
	case !appNamePattern.MatchString(name):
		return invalid("app name %q: use lowercase letters, digits, '-' and '_', starting with a letter (it names the directory and the Go module), e.g. %q", name, suggestName(name))
	case isStdPackage(name):
		return invalid("app name %q is a standard library package; Go would confuse the two (pick another name or pass --module example.com/%s)", name, name)
	}
	return nil
}

// suggestName turns s into something CheckAppName accepts.
func suggestName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
		case (r == '-' || r == '_' || unicode.IsSpace(r)) && b.Len() > 0:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "myapp"
	}
	return out
}

// isStdPackage reports whether name is a top-level package of the
// standard library in the current Go installation.
func isStdPackage(name string) bool {
	root := goroot()
	if root == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(root, "src", name))
	return err == nil && fi.IsDir()
}

// modulePathElem is what one element of a module path may hold.
var modulePathElem = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// CheckModulePath reports whether path is a usable Go module path: slash-
// separated elements of letters, digits and . _ ~ -, none empty, none
// starting or ending with a dot, a lowercase first element, and not mega's
// own module.
func CheckModulePath(path string) error {
	if path == "" {
		return invalid("the module path is empty")
	}
	if path == FrameworkModule || strings.HasPrefix(path, FrameworkModule+"/") {
		return invalid("module path %q is mega's own; choose one for your app, e.g. example.com/chatapp", path)
	}
	if len(path) > 255 {
		return invalid("module path %q is too long (at most 255 characters)", path)
	}
	elems := strings.Split(path, "/")
	for i, e := range elems {
		switch {
		case e == "":
			return invalid("module path %q has an empty element (leading, trailing or double slash)", path)
		case !modulePathElem.MatchString(e):
			return invalid("module path %q: element %q may only hold letters, digits and . _ ~ -", path, e)
		case strings.HasPrefix(e, ".") || strings.HasSuffix(e, "."):
			return invalid("module path %q: element %q may not start or end with a dot", path, e)
		case i == 0 && (e != strings.ToLower(e) || strings.HasPrefix(e, "-")):
			return invalid("module path %q: the first element %q must be lowercase and not start with '-'", path, e)
		}
	}
	if !strings.Contains(elems[0], ".") && isStdPackage(elems[0]) {
		return invalid("module path %q starts with %q, a standard library package; Go would confuse the two", path, elems[0])
	}
	return nil
}

// identPattern is what a channel, resource or field name may be: snake
// case with single underscores between lowercase words.
var identPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// reservedStems are file names an app directory already uses.
var reservedStems = []string{"api", "app", "auth", "helpers", "page"}

// fileSuffixes make the Go tool treat a file specially: _test, and the
// GOOS and GOARCH values that restrict a file to one platform.
var fileSuffixes = strings.Fields(`test
	aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 windows zos
	386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le
	ppc ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm`)

// CheckName reports whether name can name a channel or resource (kind is
// "channel" or "resource"): snake case (lowercase letters and digits,
// words joined by single underscores), at most 48 characters, not a file
// the app already uses and not ending in a suffix that Go treats specially
// in file names (_test, _linux, _amd64, ...).
func CheckName(kind, name string) error {
	switch {
	case name == "":
		return invalid("the %s needs a name", kind)
	case len(name) > 48:
		return invalid("%s name %q is %d characters long; use at most 48", kind, name, len(name))
	case !identPattern.MatchString(name):
		return invalid("%s name %q: use lowercase letters and digits, words joined by single underscores, starting with a letter, e.g. %q", kind, name, suggestIdent(name))
	case slices.Contains(reservedStems, name):
		return invalid("%s name %q is taken by the app's own %s.go; choose another", kind, name, name)
	}
	if i := strings.LastIndexByte(name, '_'); i >= 0 && slices.Contains(fileSuffixes, name[i+1:]) {
		return invalid("%s name %q ends in _%s, which Go reads as a build constraint in a file name; choose another", kind, name, name[i+1:])
	}
	return nil
}

// suggestIdent turns s into snake case.
func suggestIdent(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r) && r < unicode.MaxASCII:
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
			prevLower = true
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
			prevLower = false
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		return "items"
	}
	return out
}

// initialisms are written in capitals in Go names: user_id → UserID.
var initialisms = map[string]string{
	"api": "API", "css": "CSS", "db": "DB", "html": "HTML", "http": "HTTP", "https": "HTTPS",
	"id": "ID", "ip": "IP", "json": "JSON", "sql": "SQL", "ttl": "TTL", "ui": "UI",
	"uri": "URI", "url": "URL", "uuid": "UUID", "xml": "XML",
}

// goName turns a snake-case name into an exported Go name: published_at →
// PublishedAt, user_id → UserID.
func goName(snake string) string {
	var b strings.Builder
	for _, w := range strings.Split(snake, "_") {
		if up, ok := initialisms[w]; ok {
			b.WriteString(up)
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// lowerCamel turns a snake-case name into lowerCamel case, the JSON field
// and unexported Go name: published_at → publishedAt.
func lowerCamel(snake string) string {
	words := strings.Split(snake, "_")
	for i := 1; i < len(words); i++ {
		words[i] = strings.ToUpper(words[i][:1]) + words[i][1:]
	}
	return strings.Join(words, "")
}

// irregular plurals singular does not guess right.
var irregular = map[string]string{
	"buses": "bus", "caches": "cache", "children": "child", "data": "data", "men": "man",
	"news": "news", "people": "person", "series": "series", "species": "species",
	"statuses": "status", "women": "woman",
}

// singular guesses the singular of an English plural: rooms → room,
// categories → category, boxes → box, addresses → address. The last word
// of a snake-case name is the one changed.
func singular(plural string) string {
	i := strings.LastIndexByte(plural, '_') + 1
	head, word := plural[:i], plural[i:]
	if s, ok := irregular[word]; ok {
		return head + s
	}
	return head + singularWord(word)
}

func singularWord(plural string) string {
	switch {
	case strings.HasSuffix(plural, "ies") && len(plural) > 3:
		return plural[:len(plural)-3] + "y"
	case strings.HasSuffix(plural, "sses"), strings.HasSuffix(plural, "xes"),
		strings.HasSuffix(plural, "ches"), strings.HasSuffix(plural, "shes"),
		strings.HasSuffix(plural, "zzes"):
		return plural[:len(plural)-2]
	case strings.HasSuffix(plural, "ss"), strings.HasSuffix(plural, "us"), strings.HasSuffix(plural, "is"):
		return plural
	case strings.HasSuffix(plural, "s") && len(plural) > 1:
		return plural[:len(plural)-1]
	}
	return plural
}
