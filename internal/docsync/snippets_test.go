package docsync

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/doc"
	"go/doc/comment"
	"go/format"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
)

// This file extracts snippets from documents and checks them against the
// file that runs them; docsync_test.go holds the tests.
//
// The rules, in the words a failure uses:
//
//   - A Markdown document's Go snippets are its ```go fences. The last
//     non-blank line above each must be a marker naming, from the
//     repository root, the file that runs it:
//     <!-- snippet: framework/example_readme_test.go -->
//     A marker above anything else is an error, so markers cannot go stale.
//     Other fences (sh, yaml, js, plain) are not checked.
//   - A Go file's snippets are the code blocks of its package comment (the
//     tab-indented blocks go doc shows as code); the document table names
//     the one file that runs them.
//   - A snippet is compared line by line, ignoring blank lines and the
//     amount of white space (indentation, gofmt's alignment). Its runs of
//     non-blank lines must appear in the file, each contiguous and in the
//     snippet's order, so a snippet may show a declaration and, after a
//     blank line, the statements of an Example body that use it.
//   - A snippet may start with a package clause and imports, as a whole
//     file does: the package name is not compared (documents show an app's
//     package, examples live in a _test package), and each import must be
//     one the file imports.
//   - The file must run what it matched: every top-level declaration a run
//     of lines falls in is an Example with an "Output:" comment (compiled
//     and run by go test), a Test, or a declaration whose name such a
//     function in the same file uses.
//   - A snippet that gofmt can parse on its own must be gofmt-clean.

// snippet is one Go code block of a document.
type snippet struct {
	doc    string // the document, slash-separated from the repository root
	line   int    // the document line of the snippet's first line of code
	code   string // the code, without the block's own indentation
	target string // the file that runs it, from the repository root
}

func (s snippet) String() string { return s.doc + ":" + strconv.Itoa(s.line) }

var (
	markerRE = regexp.MustCompile(`^<!--\s*snippet:\s*(\S+)\s*-->$`)
	fenceRE  = regexp.MustCompile("^(```+|~~~+)\\s*([^\\s`]*)")
)

// markdownSnippets returns the Go fences of a Markdown document, each with
// the target its marker names.
func markdownSnippets(doc, text string) ([]snippet, error) {
	var (
		out      []snippet
		errs     []string
		lines    = strings.Split(text, "\n")
		marker   string // target of the marker on the last non-blank line
		markerAt int    // its line number
	)
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if trimmed == "" {
			continue
		}
		m := fenceRE.FindStringSubmatch(trimmed)
		if m == nil {
			if mm := markerRE.FindStringSubmatch(trimmed); mm != nil {
				marker, markerAt = mm[1], i+1
				continue
			}
			if marker != "" {
				errs = append(errs, fmt.Sprintf("%s:%d: the snippet marker is not followed by a ```go fence", doc, markerAt))
			}
			marker = ""
			continue
		}
		// A fence: find its end; the code loses the fence's indentation.
		open, lang := m[1], m[2]
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		start := i + 1
		var code []string
		for i++; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if strings.HasPrefix(t, open) && strings.Trim(t, open[:1]) == "" {
				break
			}
			code = append(code, strings.TrimPrefix(lines[i], indent))
		}
		isGo := lang == "go" || lang == "golang"
		switch {
		case isGo && marker == "":
			errs = append(errs, fmt.Sprintf("%s:%d: a Go snippet without a <!-- snippet: FILE --> marker on the line above naming the file that runs it", doc, start))
		case isGo:
			out = append(out, snippet{doc: doc, line: start + 1, code: strings.Join(code, "\n"), target: marker})
		case marker != "":
			errs = append(errs, fmt.Sprintf("%s:%d: the snippet marker is above a %q fence; only Go snippets are checked", doc, markerAt, lang))
		}
		marker = ""
	}
	if marker != "" {
		errs = append(errs, fmt.Sprintf("%s:%d: the snippet marker is not followed by a ```go fence", doc, markerAt))
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// goDocSnippets returns the code blocks of a Go file's package comment,
// all run by target.
func goDocSnippets(doc string, src []byte, target string) ([]snippet, error) {
	f, err := parser.ParseFile(token.NewFileSet(), doc, src, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return nil, err
	}
	if f.Doc == nil {
		return nil, fmt.Errorf("%s: no package comment", doc)
	}
	var out []snippet
	var p comment.Parser
	for _, b := range p.Parse(f.Doc.Text()).Content {
		code, ok := b.(*comment.Code)
		if !ok {
			continue
		}
		text := strings.TrimSuffix(code.Text, "\n")
		out = append(out, snippet{doc: doc, line: lineOf(src, text), code: text, target: target})
	}
	return out, nil
}

// lineOf returns the line of src where code's first line is, or 0.
func lineOf(src []byte, code string) int {
	first, _, _ := strings.Cut(code, "\n")
	for i, l := range strings.Split(string(src), "\n") {
		if normalize(strings.TrimPrefix(strings.TrimSpace(l), "//")) == normalize(first) {
			return i + 1
		}
	}
	return 0
}

// normalize drops a line's indentation and collapses its runs of white
// space, so gofmt's alignment does not matter.
func normalize(line string) string { return strings.Join(strings.Fields(line), " ") }

// block is a run of non-blank lines of a snippet.
type block struct {
	line  int // the first line's index in the snippet, from 0
	lines []string
}

// blocks splits code into runs of non-blank normalized lines.
func blocks(code string, from int) []block {
	var out []block
	var cur *block
	for i, l := range strings.Split(code, "\n") {
		if i < from {
			continue
		}
		n := normalize(l)
		if n == "" {
			cur = nil
			continue
		}
		if cur == nil {
			out = append(out, block{line: i})
			cur = &out[len(out)-1]
		}
		cur.lines = append(cur.lines, n)
	}
	return out
}

// check reports why target (its source, named targetName) does not run
// s, or nil when it does.
func check(s snippet, targetName string, target []byte) error {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, targetName, target, parser.ParseComments)
	if err != nil {
		return fmt.Errorf("%s: %s does not parse: %v", s, targetName, err)
	}
	if !strings.HasSuffix(targetName, "_test.go") {
		return fmt.Errorf("%s: %s is not a _test.go file: name the example or test that runs the snippet", s, targetName)
	}
	if err := gofmtClean(s); err != nil {
		return err
	}

	// A leading package clause and imports: compare the imports only.
	from, err := checkHeader(s, file, targetName)
	if err != nil {
		return err
	}

	lines := strings.Split(string(target), "\n")
	for i := range lines {
		lines[i] = normalize(lines[i])
	}
	runnable := runnableFuncs(file)
	at := 0 // where the next block may start in target (index from 0)
	for _, b := range blocks(s.code, from) {
		found := -1
		for i := at; i+len(b.lines) <= len(lines); i++ {
			if equal(lines[i:i+len(b.lines)], b.lines) {
				found = i
				break
			}
		}
		if found < 0 {
			return notFound(s, targetName, b, lines, at)
		}
		first, last := found+1, found+len(b.lines) // lines from 1
		if err := runs(fset, file, runnable, first, last); err != nil {
			return fmt.Errorf("%s: found in %s:%d-%d, but %v", s, targetName, first, last, err)
		}
		at = found + len(b.lines)
	}
	return nil
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// notFound says which line of b is the first one target lacks: the line
// after the longest prefix of b that target has at or after at.
func notFound(s snippet, targetName string, b block, lines []string, at int) error {
	best := 0
	for i := at; i < len(lines); i++ {
		n := 0
		for n < len(b.lines) && i+n < len(lines) && lines[i+n] == b.lines[n] {
			n++
		}
		best = max(best, n)
	}
	missing := b.lines[min(best, len(b.lines)-1)]
	where := s.String()
	if s.line > 0 { // a snippet's lines are consecutive lines of its document
		where = s.doc + ":" + strconv.Itoa(s.line+b.line+best)
	}
	return fmt.Errorf("%s: snippet line %d is not in %s (after the snippet's earlier lines): %q\n"+
		"\tchange the snippet and the code that runs it together", where, b.line+best+1, targetName, missing)
}

// checkHeader compares the imports of a snippet that starts with a
// package clause to the target's, and returns the index of the snippet's
// first line after its imports (0 when it has no package clause).
func checkHeader(s snippet, target *ast.File, targetName string) (int, error) {
	if !strings.HasPrefix(strings.TrimSpace(s.code), "package ") {
		return 0, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, s.String(), s.code, parser.ImportsOnly)
	if err != nil {
		return 0, fmt.Errorf("%s: the snippet's package clause and imports do not parse: %v", s, err)
	}
	have := map[string]bool{}
	for _, im := range target.Imports {
		have[importKey(im)] = true
	}
	for _, im := range f.Imports {
		if !have[importKey(im)] {
			return 0, fmt.Errorf("%s: the snippet imports %s, %s does not", s, importKey(im), targetName)
		}
	}
	end := f.Name.End()
	if len(f.Decls) > 0 {
		end = f.Decls[len(f.Decls)-1].End()
	}
	return fset.Position(end).Line, nil // lines from 1: the index of the next line
}

func importKey(im *ast.ImportSpec) string {
	if im.Name != nil {
		return im.Name.Name + " " + im.Path.Value
	}
	return im.Path.Value
}

// runnableFuncs returns the names of target's functions that go test runs:
// Examples with an output comment and Tests.
func runnableFuncs(f *ast.File) map[string]bool {
	out := map[string]bool{}
	for _, ex := range doc.Examples(f) {
		if ex.Output != "" || ex.EmptyOutput {
			out["Example"+ex.Name] = true
		}
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") && fd.Name.Name != "TestMain" {
			out[fd.Name.Name] = true
		}
	}
	return out
}

// runs reports why lines first..last of f are not run: some top-level
// declaration they fall in is neither a runnable function nor used by one.
func runs(fset *token.FileSet, f *ast.File, runnable map[string]bool, first, last int) error {
	for _, d := range f.Decls {
		start, end := fset.Position(d.Pos()).Line, fset.Position(d.End()).Line
		if dc := declDoc(d); dc != nil {
			start = fset.Position(dc.Pos()).Line
		}
		if end < first || start > last {
			continue
		}
		names := declNames(d)
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
			name := fd.Name.Name
			if runnable[name] {
				continue
			}
			if strings.HasPrefix(name, "Example") {
				return fmt.Errorf("%s has no \"// Output:\" comment: go test compiles it but never runs it", name)
			}
		}
		if len(names) == 0 {
			continue // imports
		}
		if !usedByRunnable(f, runnable, names) {
			return fmt.Errorf("no Example with output or Test in the file uses %s", strings.Join(names, ", "))
		}
	}
	return nil
}

func declDoc(d ast.Decl) *ast.CommentGroup {
	switch d := d.(type) {
	case *ast.FuncDecl:
		return d.Doc
	case *ast.GenDecl:
		return d.Doc
	}
	return nil
}

// declNames returns what a declaration declares, a method's receiver type
// standing for the method.
func declNames(d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv != nil && len(d.Recv.List) > 0 {
			t := d.Recv.List[0].Type
			if s, ok := t.(*ast.StarExpr); ok {
				t = s.X
			}
			if id, ok := t.(*ast.Ident); ok {
				return []string{id.Name}
			}
			return nil
		}
		return []string{d.Name.Name}
	case *ast.GenDecl:
		var out []string
		for _, sp := range d.Specs {
			switch sp := sp.(type) {
			case *ast.TypeSpec:
				out = append(out, sp.Name.Name)
			case *ast.ValueSpec:
				for _, n := range sp.Names {
					out = append(out, n.Name)
				}
			}
		}
		return out
	}
	return nil
}

// usedByRunnable reports whether the body of a runnable function of f
// mentions one of names.
func usedByRunnable(f *ast.File, runnable map[string]bool, names []string) bool {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	used := false
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !runnable[fd.Name.Name] || fd.Body == nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && want[id.Name] {
				used = true
			}
			return !used
		})
	}
	return used
}

// gofmtClean fails when gofmt parses the snippet on its own and would
// change it. A snippet gofmt cannot parse alone (declarations followed by
// statements) is not checked here; its lines are in a file CI keeps
// gofmt-clean.
func gofmtClean(s snippet) error {
	src := []byte(strings.TrimSpace(s.code) + "\n")
	got, err := format.Source(src)
	if err != nil || bytes.Equal(got, src) {
		return nil
	}
	return fmt.Errorf("%s: the snippet is not gofmt-clean; gofmt makes it:\n%s", s, got)
}
