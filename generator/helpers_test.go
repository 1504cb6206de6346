package generator_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/megaframework/mega/generator"
)

// repoRoot returns the root of this checkout: the framework new apps use.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// newApp writes a new app named crud into a temp dir, without running go
// mod tidy, and returns its root.
func newApp(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "crud")
	plan, err := generator.New(generator.NewOptions{Name: "crud", Dir: root, Framework: repoRoot(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := plan.Write(io.Discard, false); err != nil {
		t.Fatalf("write: %v", err)
	}
	return root
}

// readFile returns the content of root/path.
func readFile(t *testing.T, root, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// actions maps each path of plan to its action.
func actions(plan *generator.Plan) map[string]generator.Action {
	out := map[string]generator.Action{}
	for _, c := range plan.Changes {
		out[c.Path] = c.Action
	}
	return out
}

// mustFields parses fields or fails the test.
func mustFields(t *testing.T, args ...string) []generator.Field {
	t.Helper()
	f, err := generator.ParseFields(args)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
