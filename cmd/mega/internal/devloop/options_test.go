//go:build unix

package devloop

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestOptions(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644))

	o, err := Options{Dir: dir}.withDefaults()
	is.NoErr(err)
	is.Equal(o.Instances, 1)
	is.Equal(o.Port, DefaultPort)
	is.Equal(o.Delay, DefaultDelay)
	is.Equal(o.Grace, DefaultGrace)

	t.Run("ErrInvalid", func(t *testing.T) {
		is := is.New(t)
		_, err := Options{Dir: dir, Instances: 99, Port: 65535, Delay: -time.Second}.withDefaults()
		is.True(errors.Is(err, ErrInvalid))
		for _, want := range []string{"--instances: must be 1 to 16, got 99", "--port:", "--delay: must not be negative"} {
			is.True(strings.Contains(err.Error(), want)) // every problem at once
		}
	})
	t.Run("NoGoMod", func(t *testing.T) {
		is := is.New(t)
		_, err := Options{Dir: t.TempDir()}.withDefaults()
		is.True(err != nil && strings.Contains(err.Error(), "has no go.mod"))
		is.True(!errors.Is(err, ErrInvalid))
	})
}

func TestSetEnv(t *testing.T) {
	is := is.New(t)
	env := setEnv([]string{"A=1", "PORT=1", "B=2", "PORT=3"}, "PORT", "8080", "C", "x")
	is.Equal(env, []string{"A=1", "B=2", "PORT=8080", "C=x"})
	is.Equal(lookupEnv(env, "PORT"), "8080")
	is.Equal(lookupEnv(env, "NOPE"), "")
}
