package generator_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/megaframework/mega/generator"
)

// regenerateSample is how sample/crud is made; the failure message of
// TestSampleIsUpToDate tells it.
const regenerateSample = "task sample  (that is: rm -rf sample/crud && cd sample && go run ../cmd/mega new crud --module crud)"

// TestSampleIsUpToDate fails when sample/crud is not byte for byte what
// mega new crud --module crud writes into sample/crud, go.sum included.
func TestSampleIsUpToDate(t *testing.T) {
	root := repoRoot(t)
	sample := filepath.Join(root, "sample", "crud")
	plan, err := generator.New(generator.NewOptions{Name: "crud", Module: "crud", Dir: sample, Framework: root, Force: true})
	if err != nil {
		t.Fatal(err)
	}

	// go.mod and go.sum come from go mod tidy: run it on a copy.
	tidied := tidyCopy(t, plan)
	want := map[string][]byte{"go.sum": tidied["go.sum"]}
	for _, c := range plan.Changes {
		want[c.Path] = c.Data
	}
	want["go.mod"] = tidied["go.mod"]

	var problems []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		got, err := os.ReadFile(filepath.Join(sample, filepath.FromSlash(p)))
		switch {
		case err != nil:
			problems = append(problems, p+" is missing")
		case !bytes.Equal(got, want[p]):
			problems = append(problems, p+" differs: "+strings.ReplaceAll(firstDiff(want[p], got), "\n", " "))
		}
	}
	err = filepath.WalkDir(sample, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sample, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && (rel == "data" || rel == "tmp" || rel == "bin" || rel == "vendor"):
			return filepath.SkipDir // local state and task vendor's copy, ignored by .gitignore
		case d.IsDir() || strings.HasSuffix(rel, ".db") || strings.Contains(rel, ".db-"):
			return nil
		}
		if _, ok := want[rel]; !ok {
			problems = append(problems, rel+" is not written by mega new")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("sample/crud is not what `mega new crud --module crud` writes:\n  %s\nRegenerate it with: %s",
			strings.Join(problems, "\n  "), regenerateSample)
	}
}

// replaceLine is go.mod's replace of the framework.
var replaceLine = regexp.MustCompile(`(?m)^replace github\.com/megaframework/mega => .*$`)

// tidyCopy writes plan into a temp dir, runs go mod tidy there and returns
// go.mod and go.sum, with the replace pointing where plan's does.
func tidyCopy(t *testing.T, plan *generator.Plan) map[string][]byte {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "crud")
	copyPlan := &generator.Plan{Root: tmp}
	for _, c := range plan.Changes {
		c.Action = generator.Create
		if c.Path == "go.mod" {
			// The copy lives elsewhere: point its replace at the checkout.
			c.Data = replaceLine.ReplaceAll(c.Data, []byte("replace github.com/megaframework/mega => "+filepath.ToSlash(repoRoot(t))))
		}
		copyPlan.Changes = append(copyPlan.Changes, c)
	}
	if err := copyPlan.Write(io.Discard, false); err != nil {
		t.Fatal(err)
	}
	if err := generator.Tidy(context.Background(), tmp, io.Discard); err != nil {
		t.Fatalf("go mod tidy on a copy of the sample (needs the module cache or the Go module proxy): %v", err)
	}
	gomod, err := os.ReadFile(filepath.Join(tmp, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile(filepath.Join(tmp, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	orig := replaceLine.Find(plan.File("go.mod"))
	return map[string][]byte{"go.mod": replaceLine.ReplaceAll(gomod, orig), "go.sum": gosum}
}
