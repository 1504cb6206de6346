package config_test

import (
	"errors"
	"testing"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/config"
)

// env returns a lookup function over a fixed map, like os.LookupEnv.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// problems parses src and returns every reported problem as "path: message",
// without line numbers, in the order the error lists them.
func problems(t *testing.T, src string, vars map[string]string) []string {
	t.Helper()
	is := is.New(t)
	c, err := config.Parse([]byte(src), env(vars))
	is.True(c != nil) // Parse always returns a config
	if err == nil {
		return nil
	}
	is.True(errors.Is(err, config.ErrInvalid)) // every problem matches ErrInvalid
	var errs config.Errors
	is.True(errors.As(err, &errs))
	out := make([]string, len(errs))
	for i, fe := range errs {
		out[i] = fe.Path + ": " + fe.Message
		if fe.Path == "" {
			out[i] = fe.Message
		}
	}
	return out
}
