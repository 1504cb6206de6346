package docsync

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// documents are the documents whose Go code must run. A Markdown document
// names the file that runs each snippet with a marker above its fence; the
// code blocks of a Go file's package comment all run in target. The rules
// are at the top of snippets_test.go.
var documents = []struct{ path, target string }{
	{path: "README.md"},
	{path: "docs/getting-started.md"},
	{path: "docs/history.md"},
	{path: "framework/doc.go", target: "framework/example_doc_test.go"},
	{path: "framework/megatest/megatest.go", target: "framework/megatest/example_test.go"},
}

// root is the repository root, seen from this package's directory.
const root = "../.."

func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// extract returns the Go snippets of the document at path.
func extract(path string, src []byte, target string) ([]snippet, error) {
	if strings.HasSuffix(path, ".go") {
		return goDocSnippets(path, src, target)
	}
	return markdownSnippets(path, string(src))
}

// TestDocumentedGoRuns checks every Go snippet of every document: it is in
// the file its marker (or the table) names, inside code go test runs.
func TestDocumentedGoRuns(t *testing.T) {
	for _, d := range documents {
		t.Run(d.path, func(t *testing.T) {
			is := is.New(t)
			snippets, err := extract(d.path, readRepoFile(t, d.path), d.target)
			is.NoErr(err)              // the document's snippet markers
			is.True(len(snippets) > 0) // a document in the table has Go snippets (else take it out)
			for _, s := range snippets {
				t.Run(s.String(), func(t *testing.T) {
					is := is.New(t)
					is.NoErr(check(s, s.target, readRepoFile(t, s.target)))
				})
			}
		})
	}
}

// TestReadmeChannelBuildsInAFreshApp does what the README tells a new user
// to do with its first example: in the app `mega new` makes (the committed
// sample/crud, which the generator's tests keep equal to its output), save
// the first Go snippet as apps/main/lobby.go and put the second, the line
// that mounts it, above the "// mega:routes" line of apps/main/app.go.
// Then go vet type-checks the app and its tests. The example in
// framework/example_readme_test.go runs the same code.
func TestReadmeChannelBuildsInAFreshApp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an app with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	is := is.New(t)
	snippets, err := markdownSnippets("README.md", string(readRepoFile(t, "README.md")))
	is.NoErr(err)
	is.True(len(snippets) >= 2) // the README starts with a channel file and the line that mounts it
	file, mount := snippets[0].code, strings.TrimSpace(snippets[1].code)
	is.True(strings.HasPrefix(file, "package mainapp\n")) // the first Go snippet is a whole file of the app's package
	is.True(strings.HasPrefix(mount, "app.Channel("))     // the second mounts the channel

	abs, err := filepath.Abs(root)
	is.NoErr(err)
	app := t.TempDir()
	is.NoErr(copyApp(filepath.Join(abs, "sample", "crud"), app))
	is.NoErr(os.WriteFile(filepath.Join(app, "apps", "main", "lobby.go"), []byte(file+"\n"), 0o644))

	appGo := filepath.Join(app, "apps", "main", "app.go")
	src, err := os.ReadFile(appGo)
	is.NoErr(err)
	lines := strings.Split(string(src), "\n")
	at := -1
	for i, l := range lines {
		if strings.Contains(l, "// mega:routes") {
			at = i
			break
		}
	}
	is.True(at >= 0) // apps/main/app.go has the "// mega:routes" line the README points to
	indent := lines[at][:len(lines[at])-len(strings.TrimLeft(lines[at], "\t"))]
	lines = append(lines[:at], append([]string{indent + mount}, lines[at:]...)...)
	is.NoErr(os.WriteFile(appGo, []byte(strings.Join(lines, "\n")), 0o644))

	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = app
		// -mod=mod: while the framework gains a dependency, the app's
		// go.sum may lag it; the sample's own CI step checks its go.sum,
		// this test checks the README's code.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in an app with the README's channel: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("mod", "edit", "-replace", "github.com/megaframework/mega="+abs)
	run("vet", "./...")
}

// copyApp copies an app's source, without its local state and build
// output.
func copyApp(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "data", "tmp", "bin", "node_modules":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
}
