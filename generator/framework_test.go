package generator_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/generator"
)

func TestFindFramework(t *testing.T) {
	is := is.New(t)
	root := repoRoot(t)
	// From anywhere: the binary's own source leads to this checkout.
	t.Chdir(t.TempDir())
	got, err := generator.FindFramework("")
	is.NoErr(err)
	is.Equal(got, root)

	got, err = generator.FindFramework(root)
	is.NoErr(err)
	is.Equal(got, root)
}

func TestFindFrameworkRefusesOtherDirs(t *testing.T) {
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ dir, want string }{
		{filepath.Join(other, "missing"), "no such file"},
		{other, `module "example.com/other", not github.com/megaframework/mega`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			is := is.New(t)
			_, err := generator.FindFramework(tc.dir)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tc.want)) // the message explains
			is.True(strings.Contains(err.Error(), "--framework"))
			is.True(!errors.Is(err, generator.ErrNoFramework))
		})
	}
}
