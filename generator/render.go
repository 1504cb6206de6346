package generator

import (
	"bytes"
	"fmt"
	"go/format"
	"io/fs"
	"path"
	"strings"
	"text/template"

	"github.com/megaframework/mega/templates"
)

// file is one file a command wants on disk.
type file struct {
	path   string // slash-separated, relative to the app's root
	data   []byte
	policy policy
}

// names fill in the path elements of a template tree (see package
// templates): APP is the app's directory, NAME the channel or resource.
type names struct{ app, name string }

// render renders the template tree dir (e.g. "new") with data.
func render(dir string, data any, n names, p policy) ([]file, error) {
	var out []file
	err := fs.WalkDir(templates.FS, dir, func(src string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(templates.FS, src)
		if err != nil {
			return err
		}
		dst := outputPath(strings.TrimPrefix(src, dir+"/"), n)
		if strings.HasSuffix(src, ".tmpl") {
			if raw, err = execute(src, raw, data); err != nil {
				return err
			}
		}
		if strings.HasSuffix(dst, ".go") {
			formatted, err := format.Source(raw)
			if err != nil {
				return fmt.Errorf("generator: %s renders to Go that does not parse: %w\n%s", src, err, numbered(raw))
			}
			raw = formatted
		}
		out = append(out, file{path: dst, data: raw, policy: p})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// execute runs one template. A missing key or field is an error.
func execute(name string, text []byte, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("generator: template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("generator: template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// outputPath turns a template path into the path it is written to.
func outputPath(p string, n names) string {
	elems := strings.Split(strings.TrimSuffix(p, ".tmpl"), "/")
	for i, e := range elems {
		switch {
		case e == "APP":
			elems[i] = n.app
		case strings.HasPrefix(e, "NAME"):
			elems[i] = n.name + strings.TrimPrefix(e, "NAME")
		case strings.HasPrefix(e, "dot-"):
			elems[i] = "." + strings.TrimPrefix(e, "dot-")
		}
	}
	return path.Join(elems...)
}

// numbered returns src with line numbers, for error messages.
func numbered(src []byte) string {
	var b strings.Builder
	for i, line := range strings.Split(string(src), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}
