package generator_test

// A reader for the Dockerfile and .dockerignore mega new writes, so the
// tests check and run what those files say instead of a copy of it. It
// understands the instructions and the shell syntax the template uses and
// fails on anything else, so a template change it cannot follow is noticed.

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"testing"
)

// dockerfile is a parsed Dockerfile: its stages in order.
type dockerfile struct{ stages []*dockerStage }

// dockerStage is one FROM and what follows it.
type dockerStage struct {
	image, name string
	workdir     string            // absolute, "/" when not set
	env         map[string]string // ENV of this stage
	runs        []string          // RUN commands, shell form, without RUN's own flags
	copies      []dockerCopy
	user        string
	expose      []string
	entrypoint  []string // exec form
	healthcheck string   // the HEALTHCHECK line after the keyword
}

// dockerCopy is a COPY: from the context, or --from another stage.
type dockerCopy struct {
	from     string   // stage name; "" for the build context
	src      []string // as written: relative to the context, or absolute in the stage
	dst      string   // absolute
	stageDir string   // the stage's WORKDIR when the COPY ran
}

// stage returns the stage named name.
func (d *dockerfile) stage(t *testing.T, name string) *dockerStage {
	t.Helper()
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("Dockerfile: no stage named %q", name)
	return nil
}

// final returns the last stage: the image.
func (d *dockerfile) final() *dockerStage { return d.stages[len(d.stages)-1] }

// goBuild returns the stage's one RUN of go build: the environment its
// assignments set on top of the stage's ENV, and the command's words.
func (s *dockerStage) goBuild(t *testing.T) (env map[string]string, argv []string) {
	t.Helper()
	found := 0
	for _, run := range s.runs {
		words, err := shellWords(run)
		if err != nil {
			t.Fatalf("Dockerfile: RUN %s: %v", run, err)
		}
		assign := map[string]string{}
		for len(words) > 0 && isAssignment(words[0]) {
			k, v, _ := strings.Cut(words[0], "=")
			assign[k] = v
			words = words[1:]
		}
		if len(words) >= 2 && words[0] == "go" && words[1] == "build" {
			found++
			env = map[string]string{}
			for k, v := range s.env {
				env[k] = v
			}
			for k, v := range assign {
				env[k] = v
			}
			argv = words
		}
	}
	if found != 1 {
		t.Fatalf("Dockerfile: stage %q has %d RUNs of go build, want 1", s.name, found)
	}
	return env, argv
}

// parseDockerfile reads the instructions the template uses.
func parseDockerfile(t *testing.T, src []byte) *dockerfile {
	t.Helper()
	d := &dockerfile{}
	for _, line := range dockerLines(string(src)) {
		keyword, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		keyword = strings.ToUpper(keyword)
		if keyword != "FROM" && len(d.stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", keyword)
		}
		var s *dockerStage
		if len(d.stages) > 0 {
			s = d.stages[len(d.stages)-1]
		}
		switch keyword {
		case "FROM":
			f := strings.Fields(rest)
			st := &dockerStage{image: f[0], workdir: "/", env: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				t.Fatalf("Dockerfile: FROM %s: want IMAGE [AS NAME]", rest)
			}
			d.stages = append(d.stages, st)
		case "WORKDIR":
			s.workdir = resolve(s.workdir, rest)
		case "ENV":
			words, err := shellWords(rest)
			if err != nil {
				t.Fatalf("Dockerfile: ENV %s: %v", rest, err)
			}
			for _, w := range words {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %s: want KEY=VALUE", rest)
				}
				s.env[k] = v
			}
		case "RUN":
			for strings.HasPrefix(rest, "--") {
				_, rest, _ = strings.Cut(rest, " ")
				rest = strings.TrimSpace(rest)
			}
			s.runs = append(s.runs, rest)
		case "COPY":
			f := strings.Fields(rest)
			c := dockerCopy{stageDir: s.workdir}
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--from="); ok {
					c.from = v
				} else {
					t.Fatalf("Dockerfile: COPY %s: flag %s not understood by this test", rest, f[0])
				}
				f = f[1:]
			}
			if len(f) < 2 || strings.HasPrefix(f[0], "[") {
				t.Fatalf("Dockerfile: COPY %s: want SRC... DST", rest)
			}
			c.src, c.dst = f[:len(f)-1], resolve(s.workdir, f[len(f)-1])
			s.copies = append(s.copies, c)
		case "USER":
			s.user = rest
		case "EXPOSE":
			s.expose = append(s.expose, strings.Fields(rest)...)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &s.entrypoint); err != nil {
				t.Fatalf("Dockerfile: ENTRYPOINT %s: want the exec form [\"...\"]: %v", rest, err)
			}
		case "HEALTHCHECK":
			s.healthcheck = rest
		default:
			t.Fatalf("Dockerfile: instruction %s is not understood by this test; teach parseDockerfile", keyword)
		}
	}
	if len(d.stages) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return d
}

// resolve returns p, absolute or relative to dir, as an absolute path.
func resolve(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// dockerLines returns the instructions of a Dockerfile: comments and blank
// lines dropped, continuation lines (ending in \) joined.
func dockerLines(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
	}
	return out
}

// isAssignment reports whether a shell word is NAME=value.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// shellWords splits one simple POSIX shell command into words: blanks
// separate words, '...' and "..." quote, \ escapes. Anything the shell
// would expand or treat as an operator ($, `, ;, &, |, <, >, parentheses)
// is an error: a command this test runs must mean the same without a shell.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '$', '`':
					return nil, fmt.Errorf("%q expands %c inside double quotes; this test runs commands without a shell", s, s[i])
				case '\\':
					if i+1 < len(s) && strings.IndexByte("$`\"\\", s[i+1]) >= 0 {
						i++
					}
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\':
			if i+1 < len(s) {
				i++
				w.WriteByte(s[i])
			}
			inWord = true
		case strings.IndexByte("$`;&|<>()", c) >= 0:
			return nil, fmt.Errorf("%q uses %c; this test runs commands without a shell", s, c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// dockerIgnore holds .dockerignore patterns of the forms the template
// uses: NAME or GLOB matched from the context's root, and **/GLOB matched
// at any depth. A path is ignored when it or a directory above it matches.
type dockerIgnore []string

func parseDockerIgnore(t *testing.T, src []byte) dockerIgnore {
	t.Helper()
	var d dockerIgnore
	for _, line := range strings.Split(string(src), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		rest := strings.TrimPrefix(p, "**/")
		if strings.HasPrefix(p, "!") || strings.Contains(rest, "**") || (rest != p && strings.Contains(rest, "/")) {
			t.Fatalf(".dockerignore: pattern %q is not understood by this test; teach dockerIgnore", p)
		}
		if _, err := path.Match(rest, ""); err != nil {
			t.Fatalf(".dockerignore: pattern %q: %v", p, err)
		}
		d = append(d, path.Clean(p))
	}
	return d
}

// ignores reports whether the slash-separated path rel, relative to the
// context's root, is left out of the build context.
func (d dockerIgnore) ignores(rel string) bool {
	elems := strings.Split(rel, "/")
	for n := 1; n <= len(elems); n++ {
		prefix := strings.Join(elems[:n], "/")
		for _, p := range d {
			if glob, ok := strings.CutPrefix(p, "**/"); ok {
				if m, _ := path.Match(glob, elems[n-1]); m {
					return true
				}
			} else if m, _ := path.Match(p, prefix); m {
				return true
			}
		}
	}
	return false
}
