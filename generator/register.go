package generator

import (
	"bytes"
	"fmt"
	"go/format"
	"strings"
)

// Marker is the comment in apps/<app>/app.go above which mega generate
// registers resources and channels, inside New where app, r and db are in
// scope.
const Marker = "// mega:routes"

// registration is code mega generate adds to app.go.
type registration struct {
	// stmt is the Go code inserted above the marker.
	stmt string
	// key is in app.go once stmt was added: the registration is done.
	key string
	// taken, when in app.go without key, means something else already
	// holds what stmt needs (a channel's namespace).
	taken string
}

// register returns src (the file at path) with r.stmt inserted above the
// marker line, formatted, and whether it changed. A file that already
// holds r.key is returned as it is, so registering twice changes nothing.
func register(path string, src []byte, r registration) ([]byte, bool, error) {
	if bytes.Contains(src, []byte(r.key)) {
		return src, false, nil
	}
	if r.taken != "" && bytes.Contains(src, []byte(r.taken)) {
		return nil, false, fmt.Errorf("%s already uses %s for something else; choose another name", path, r.taken)
	}
	lines := strings.SplitAfter(string(src), "\n")
	at := -1
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), Marker) {
			if at >= 0 {
				return nil, false, fmt.Errorf("%s has more than one %q line; keep one, inside New", path, Marker)
			}
			at = i
		}
	}
	if at < 0 {
		return nil, false, fmt.Errorf("%s has no %q line, where mega generate registers code; add it inside New, where app, r and db are in scope, or register by hand:\n%s",
			path, Marker, r.stmt)
	}
	indent := lines[at][:len(lines[at])-len(strings.TrimLeft(lines[at], " \t"))]
	var b strings.Builder
	for _, l := range lines[:at] {
		b.WriteString(l)
	}
	for _, l := range strings.Split(strings.TrimRight(r.stmt, "\n"), "\n") {
		b.WriteString(indent + l + "\n")
	}
	for _, l := range lines[at:] {
		b.WriteString(l)
	}
	out, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, false, fmt.Errorf("%s does not parse after registering %s (is it valid Go?): %w", path, r.key, err)
	}
	return out, true, nil
}
