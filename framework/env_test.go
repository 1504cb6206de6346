package mega_test

import (
	"errors"
	"testing"

	"github.com/matryer/is"
	"github.com/rs/zerolog"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
)

// TestDatabaseNotConfigured checks the boot reports a database an app opens
// but services.databases lacks as mega config check does.
func TestDatabaseNotConfigured(t *testing.T) {
	is := is.New(t)
	env := mega.NewEnv("blog", nil, zerolog.Nop())
	defer env.Close()
	db, err := env.Database("posts")
	is.True(db == nil)
	is.True(errors.Is(err, config.ErrInvalid))
	is.Equal(err.Error(), `mega: services.databases.posts: no such database, but app "blog" opens it (have: none); add it, e.g. posts: { driver: sqlite, dsn: "file:data/posts.db" }`)
}
