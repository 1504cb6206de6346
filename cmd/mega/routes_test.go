package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestRoutesUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"routes", "extra"}, `mega routes: unexpected argument "extra"; choose the app with --dir DIR`},
		{[]string{"routes", "--bogus"}, "mega routes: flag provided but not defined: -bogus"},
		{[]string{"routes", "--config"}, "mega routes: flag needs an argument: -config"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, stdout, stderr := mega(t, tc.args...)
			is.Equal(code, exitUsage)
			is.Equal(stdout, "")
			is.Equal(stderr, tc.want+"\nRun 'mega routes --help' for usage.\n")
		})
	}
}

func TestRoutesNeedsAnApp(t *testing.T) {
	is := is.New(t)
	t.Chdir(t.TempDir())
	code, _, stderr := mega(t, "routes")
	is.Equal(code, exitFailure)
	is.Equal(stderr, "mega: . has no go.mod: run mega routes in an app's directory, or pass --dir\n")
}

func TestRoutesHelp(t *testing.T) {
	is := is.New(t)
	code, stdout, _ := mega(t, "routes", "--help")
	is.Equal(code, exitOK)
	for _, want := range []string{"--config FILE", "--json", "--dir DIR", "go run . routes", "custom OnMessage"} {
		is.True(strings.Contains(stdout, want))
	}
	_, stdout, _ = mega(t, "--help")
	is.True(strings.Contains(stdout, "routes "))
}

// TestRoutesSample runs mega routes on the committed sample app: a real
// go run of its main, which answers the routes argument.
func TestRoutesSample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sample app; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	// The sample opens its SQLite database while it is built: not the
	// one in sample/crud/data.
	t.Setenv("DATABASE_URL", "file:"+filepath.Join(t.TempDir(), "app.db"))
	sample := filepath.Join("..", "..", "sample", "crud")

	t.Run("Table", func(t *testing.T) {
		is := is.New(t)
		code, stdout, stderr := mega(t, "routes", "--dir", sample)
		is.Equal(code, exitOK)
		is.Equal(stderr, "mega routes: building and running the app in "+sample+" (go run . routes)…\n")
		// Lines with their columns joined by one space: the widths
		// depend on the longest pattern.
		var lines []string
		for l := range strings.SplitSeq(stdout, "\n") {
			lines = append(lines, regexp.MustCompile(`\s{2,}`).ReplaceAllString(l, " "))
		}
		for _, want := range []string{
			"APP PATTERN METHODS",
			"main / GET",
			"main /api/rooms/{id} GET, PUT, DELETE",
			"main /healthz GET",
			"APP CHANNEL TYPE BY",
			"main /ws/chat history.get framework",
			"main /ws/chat history.recover framework",
			"main /ws/chat chat.send router",
			"main /ws/chat chat.whisper router",
			"main /ws/chat roster.get router",
		} {
			if !strings.Contains("\n"+strings.Join(lines, "\n")+"\n", "\n"+want+"\n") {
				t.Errorf("no line %q in:\n%s", want, stdout)
			}
		}
	})
	t.Run("JSON", func(t *testing.T) {
		is := is.New(t)
		code, stdout, _ := mega(t, "routes", "--json", "--dir", sample)
		is.Equal(code, exitOK)
		var got struct {
			Apps []struct {
				Name     string `json:"name"`
				Channels []struct {
					Namespace string `json:"namespace"`
					Types     []struct {
						Type string `json:"type"`
						By   string `json:"by"`
					} `json:"types"`
				} `json:"channels"`
			} `json:"apps"`
		}
		is.NoErr(json.Unmarshal([]byte(stdout), &got)) // stdout is only the JSON
		is.Equal(len(got.Apps), 1)
		is.Equal(got.Apps[0].Name, "main")
		is.Equal(got.Apps[0].Channels[0].Namespace, "/ws/chat")
	})
	t.Run("ABadConfig", func(t *testing.T) {
		is := is.New(t)
		code, stdout, stderr := mega(t, "routes", "--dir", sample, "--config", "nope.yaml")
		is.Equal(code, exitFailure)
		is.Equal(stdout, "")
		is.True(strings.Contains(stderr, "nope.yaml"))                        // the app says which file
		is.True(strings.Contains(stderr, "mega: go run . routes in "+sample)) // and mega which command failed
		_, err := os.Stat(filepath.Join(sample, "nope.yaml"))
		is.True(os.IsNotExist(err))
	})
}
