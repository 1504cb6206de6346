package generator_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/megaframework/mega/generator"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the generator's output")

// TestGolden compares what mega generate writes into a new app with the
// files in testdata/golden/<case>: progress.txt (the progress lines) and
// <path>.golden for every file written. Regenerate them after a template
// change with:
//
//	go test ./generator -run TestGolden -update
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		plan func(t *testing.T, root string) (*generator.Plan, error)
	}{
		{"channel_notifications", func(t *testing.T, root string) (*generator.Plan, error) {
			return generator.Channel(generator.ChannelOptions{Dir: root, Name: "notifications"})
		}},
		{"resource_posts", func(t *testing.T, root string) (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Live: generator.DefaultLive,
				Fields: mustFields(t, "title:string", "body:text", "views:int", "published:bool", "published_at:time", "author_id:int")})
		}},
		{"resource_categories_no_required_field", func(t *testing.T, root string) (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "categories", Live: generator.DefaultLive,
				Fields: mustFields(t, "position:int", "description:text", "visible:bool")})
		}},
		{"resource_tags_no_live", func(t *testing.T, root string) (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "tags",
				Fields: mustFields(t, "label:string")})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := newApp(t)
			plan, err := tc.plan(t, root)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "golden", tc.name), planFiles(t, plan), "TestGolden")
		})
	}
}

// planFiles writes plan and returns what goes in its golden files: its
// progress lines and every file it writes but those in except.
func planFiles(t *testing.T, plan *generator.Plan, except ...string) map[string][]byte {
	t.Helper()
	var progress bytes.Buffer
	if err := plan.Write(&progress, false); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{"progress.txt": progress.Bytes()}
	for _, p := range plan.Written() {
		if !slices.Contains(except, p) {
			got[p+".golden"] = plan.File(p)
		}
	}
	return got
}

// checkGolden compares got (file name → content) with the golden files in
// dir, or rewrites them with -update; rerun names the tests that -update
// belongs with.
func checkGolden(t *testing.T, dir string, got map[string][]byte, rerun string) {
	t.Helper()
	if *update {
		writeGolden(t, dir, got)
		return
	}
	want := readGolden(t, dir)
	for p, data := range got {
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("%s: not in %s", p, dir)
		case !bytes.Equal(data, w):
			t.Errorf("%s differs from %s/%s:\n%s", p, dir, p, firstDiff(w, data))
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("%s/%s: the generator no longer writes it", dir, p)
		}
	}
	if t.Failed() {
		t.Logf("if the change is intended, run: go test ./generator -run '%s' -update", rerun)
	}
}

func writeGolden(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for p, data := range files {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readGolden(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatalf("read golden files (run go test ./generator -run TestGolden -update to create them): %v", err)
	}
	return out
}

// firstDiff shows the first line where got differs from want.
func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(same lines, different bytes)"
}
