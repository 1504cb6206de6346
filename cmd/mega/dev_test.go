package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// The dev loop itself is tested in internal/devloop on a real app; these
// tests cover the command line.

func TestDevUsageErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dev", "--instances", "0"}, "--instances: must be at least 1, got 0"},
		{[]string{"dev", "-n", "17"}, "--instances: must be 1 to 16, got 17"},
		{[]string{"dev", "--port", "0"}, "--port: must be a port number"},
		{[]string{"dev", "--port", "65535", "-n", "2"}, "--port: must be 1 to 65534 for 2 instance(s)"},
		{[]string{"dev", "--delay", "soon"}, "invalid value \"soon\" for flag -delay"},
		{[]string{"dev", "--grace", "-1s"}, "--grace: must not be negative"},
		{[]string{"dev", "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, _, stderr := mega(t, tc.args...)
			is.Equal(code, exitUsage)
			is.True(strings.Contains(stderr, tc.want))
			is.True(strings.Contains(stderr, "Run 'mega dev --help' for usage."))
		})
	}
}

func TestDevNeedsAnApp(t *testing.T) {
	is := is.New(t)
	t.Chdir(t.TempDir())
	code, _, stderr := mega(t, "dev")
	is.Equal(code, exitFailure)
	is.True(strings.Contains(stderr, "has no go.mod: run mega dev in an app's directory, or pass --dir"))
}

func TestDevHelp(t *testing.T) {
	is := is.New(t)
	code, stdout, _ := mega(t, "dev", "--help")
	is.Equal(code, exitOK)
	for _, flag := range []string{"--instances N", "--port PORT", "--delay D", "--grace G", "--dir DIR", "[$PORT]"} {
		is.True(strings.Contains(stdout, flag))
	}
	_, stdout, _ = mega(t, "--help")
	is.True(strings.Contains(stdout, "dev "))
}
