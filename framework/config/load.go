package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path, expands ${VAR} references from the
// process environment, applies defaults and validates the result.
//
// A file that cannot be read gives an error naming the path. A file with
// problems gives an error listing all of them; it matches ErrInvalid with
// errors.Is and unwraps to Errors with errors.As. On any error the returned
// Config is nil.
func Load(path string) (*Config, error) {
	c, err := Read(path, os.LookupEnv)
	switch {
	case c == nil:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("config: %s is invalid:\n%w", path, err)
	}
	return c, nil
}

// Read is Load for tools that go on checking a config that has problems,
// such as mega config check. It reads the file at path and parses it with
// lookupEnv (see Parse). When the file cannot be read it returns a nil
// Config and an error naming the path, as Load does. Otherwise it returns
// the Config and, when something is wrong, the Errors value Parse returned
// (not wrapped), so that more problems can be appended to it.
func Read(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: %w (pass --config to choose another file)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, lookupEnv)
}

// Parse reads a config from data. lookupEnv resolves ${VAR} references (pass
// os.LookupEnv for the real environment; nil means no variable is set).
//
// Parse always returns a Config with defaults applied. If anything is wrong
// it also returns an Errors value listing every problem; the Config is then
// only good for showing what was understood and must not be used to start a
// server.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	c := Default()
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	d := &decoder{env: lookupEnv, lines: map[string]int{}}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		fe := yamlError(err)
		if bytes.Contains(data, []byte("${")) {
			fe.Message += ` (values with ${...} inside { } or [ ] must be quoted: "${VAR}")`
		}
		d.errs = append(d.errs, fe)
		return c, d.errs.err()
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		d.errs = append(d.errs, FieldError{
			Message: "the file must hold one YAML document; remove everything from the second \"---\" on",
			Line:    next.Line,
		})
	}

	d.root(c, &doc)
	for _, check := range d.later {
		check()
	}
	return c, d.errs.err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML syntax error into a FieldError that carries its line.
func yamlError(err error) FieldError {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return FieldError{Message: "not valid YAML: " + m[2], Line: line}
	}
	return FieldError{Message: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// errUnset is returned by expand for ${VAR} when VAR is not set.
type errUnset string

func (e errUnset) Error() string {
	return fmt.Sprintf("environment variable %s is not set (use ${%s:-default} to give a default)", string(e), string(e))
}

// expand replaces ${VAR} and ${VAR:-default} in s with values from lookup.
// ${VAR:-default} uses default when VAR is unset or empty; "$$" is a literal
// "$"; any other "$" is kept as is. It is applied to one scalar value at a
// time, after YAML parsing, so a value can never change the file's
// structure.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) || (s[i+1] != '$' && s[i+1] != '{') {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed \"${\" in %q (write ${VAR} or ${VAR:-default}, or $$ for a literal $)", s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("malformed reference \"${%s}\" in %q (write ${VAR} or ${VAR:-default}, or $$ for a literal $)", ref, s)
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", errUnset(name)
		}
		b.WriteString(v)
		i += end
	}
	return b.String(), nil
}

// validEnvName reports whether s is a usable environment variable name:
// letters, digits and underscores, not starting with a digit.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// decoder walks a yaml.Node tree into a Config, collecting every problem.
type decoder struct {
	env   func(string) (string, bool)
	errs  Errors
	lines map[string]int // key path -> line of its key, for messages
	later []func()       // checks that need the whole file (cross-references)
}

// field decodes the value at path.
type field func(path string, v *yaml.Node)

// add records a problem at path, with the line of path or of its nearest
// parent that has one.
func (d *decoder) add(path, format string, args ...any) {
	line := 0
	for p := path; p != "" && line == 0; {
		line = d.lines[p]
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	d.errs = append(d.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...), Line: line})
}

// resolve follows aliases and unwraps the document node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// isNull reports whether n holds no value ("key:", "key: ~", "key: null").
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what n is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

func join(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}

// pairs calls each for every key of the mapping n, reporting a value that is
// not a mapping and keys that are set twice. A null n is an empty mapping.
func (d *decoder) pairs(p string, n *yaml.Node, want string, each func(p string, k, v *yaml.Node)) {
	if n = resolve(n); isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(p, "must be %s, got %s", want, describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.errs = append(d.errs, FieldError{Path: p, Message: "keys must be plain names, got " + describe(k), Line: n.Content[i].Line})
			continue
		}
		kp := join(p, k.Value)
		if first, dup := d.lines[kp]; dup {
			d.errs = append(d.errs, FieldError{Path: kp, Message: fmt.Sprintf("key is set twice (first on line %d)", first), Line: k.Line})
			continue
		}
		d.lines[kp] = k.Line
		each(kp, k, v)
	}
}

// mapping decodes a mapping with a fixed set of keys, reporting unknown
// keys. Keys with a null value count as unset. It returns the keys that were
// set.
func (d *decoder) mapping(p string, n *yaml.Node, fields map[string]field) map[string]bool {
	set := map[string]bool{}
	d.pairs(p, n, "a mapping", func(kp string, k, v *yaml.Node) {
		f, ok := fields[k.Value]
		switch {
		case !ok:
			d.unknownKey(kp, k.Value, slices.Collect(maps.Keys(fields)))
		case !isNull(v):
			set[k.Value] = true
			f(kp, v)
		}
	})
	return set
}

// unknownKey reports a key that is not valid at its level, suggesting the
// closest valid key or listing them all.
func (d *decoder) unknownKey(p, key string, valid []string) {
	if s := suggest(key, valid); s != "" {
		d.add(p, "unknown key (did you mean %q?)", s)
		return
	}
	slices.Sort(valid)
	d.add(p, "unknown key (valid: %s)", strings.Join(valid, ", "))
}

// list calls each for every item of the sequence n. It reports a value that
// is not a list and empty items, and returns false when n is not a list.
func (d *decoder) list(p string, n *yaml.Node, want string, each func(p string, item *yaml.Node)) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		d.add(p, "must be %s, got %s", want, describe(n))
		return false
	}
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", p, i)
		item = resolve(item)
		if item != nil {
			d.lines[ip] = item.Line
		}
		if isNull(item) {
			d.add(ip, "must not be empty")
			continue
		}
		each(ip, item)
	}
	return true
}

// scalar returns the text of a scalar value with ${VAR} references
// expanded. It reports other kinds of value ("must be <want>, got a list")
// and expansion problems, returning false for them.
func (d *decoder) scalar(p string, n *yaml.Node, want string) (string, bool) {
	if n = resolve(n); n == nil || n.Kind != yaml.ScalarNode {
		d.add(p, "must be %s, got %s", want, describe(n))
		return "", false
	}
	s, err := expand(n.Value, d.env)
	if err != nil {
		d.add(p, "%s", err)
		return "", false
	}
	return s, true
}

// into returns a field that stores the value parsed by parse into dst.
func into[T any](dst *T, parse func(string, *yaml.Node) (T, bool)) field {
	return func(p string, v *yaml.Node) {
		if x, ok := parse(p, v); ok {
			*dst = x
		}
	}
}

// intoPtr is into for optional (override) fields.
func intoPtr[T any](dst **T, parse func(string, *yaml.Node) (T, bool)) field {
	return func(p string, v *yaml.Node) {
		if x, ok := parse(p, v); ok {
			*dst = &x
		}
	}
}
