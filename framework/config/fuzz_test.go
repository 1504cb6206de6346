package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/megaframework/mega/framework/config"
)

// FuzzParse checks that Parse never panics and always returns a config,
// with either no error or an Errors value that matches ErrInvalid.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(designExample))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("apps: [${A:-x}, $$, ${]\n"))
	lookup := env(map[string]string{"A": "a", "NATS_URL": "nats://h:1", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, lookup)
		if c == nil {
			t.Fatal("Parse returned a nil config")
		}
		if err == nil {
			return
		}
		var errs config.Errors
		if !errors.Is(err, config.ErrInvalid) || !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error is not a non-empty config.Errors: %v", err)
		}
		for _, fe := range errs {
			if fe.Message == "" {
				t.Fatalf("empty message at %q", fe.Path)
			}
		}
		_ = err.Error()
	})
}
