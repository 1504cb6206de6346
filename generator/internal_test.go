package generator

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestWordForms(t *testing.T) {
	cases := []struct{ name, singular, goName, json string }{
		{"rooms", "room", "Rooms", "rooms"},
		{"blog_posts", "blog_post", "BlogPosts", "blogPosts"},
		{"categories", "category", "Categories", "categories"},
		{"boxes", "box", "Boxes", "boxes"},
		{"matches", "match", "Matches", "matches"},
		{"addresses", "address", "Addresses", "addresses"},
		{"statuses", "status", "Statuses", "statuses"},
		{"caches", "cache", "Caches", "caches"},
		{"people", "person", "People", "people"},
		{"sheep", "sheep", "Sheep", "sheep"},
		{"news", "news", "News", "news"},
		{"user_ids", "user_id", "UserIds", "userIds"},
		{"user_id", "user_id", "UserID", "userId"},
		{"api_keys", "api_key", "APIKeys", "apiKeys"},
		{"published_at", "published_at", "PublishedAt", "publishedAt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(singular(tc.name), tc.singular)
			is.Equal(goName(tc.name), tc.goName)
			is.Equal(lowerCamel(tc.name), tc.json)
		})
	}
}

func TestReplacePath(t *testing.T) {
	cases := []struct{ app, root, want string }{
		{"/work/mega/sample/crud", "/work/mega", "../.."},
		{"/home/me/apps/chat", "/home/me/src/mega", "../../src/mega"},
		{"/work/mega/x", "/work/mega/x/vendor/mega", "./vendor/mega"},
	}
	for _, tc := range cases {
		is.New(t).Equal(replacePath(tc.app, tc.root), tc.want)
	}
}

func TestOutputPath(t *testing.T) {
	is := is.New(t)
	n := names{app: "main", name: "posts"}
	is.Equal(outputPath("apps/APP/NAME.go.tmpl", n), "apps/main/posts.go")
	is.Equal(outputPath("apps/APP/NAME_test.go.tmpl", n), "apps/main/posts_test.go")
	is.Equal(outputPath("dot-gitignore", n), ".gitignore")
	is.Equal(outputPath("apps/APP/static/app.js", n), "apps/main/static/app.js")
}

const appGo = `package mainapp

func New() error {
	app, db := 1, 2
	_, _ = app, db
	// mega:routes (keep)
	return nil
}
`

func TestRegister(t *testing.T) {
	is := is.New(t)
	reg := registration{stmt: "if err := mountPosts(app, db); err != nil {\n\treturn err\n}", key: "mountPosts(app, db)"}

	out, changed, err := register("app.go", []byte(appGo), reg)
	is.NoErr(err)
	is.True(changed)
	is.True(strings.Contains(string(out), "\tif err := mountPosts(app, db); err != nil {\n\t\treturn err\n\t}\n\t// mega:routes (keep)\n"))

	again, changed, err := register("app.go", out, reg)
	is.NoErr(err)
	is.True(!changed) // registering twice changes nothing
	is.Equal(string(again), string(out))
}

func TestRegisterErrors(t *testing.T) {
	reg := registration{stmt: `app.Channel("/ws/x", newX())`, key: `app.Channel("/ws/x", newX()`, taken: `"/ws/x"`}
	cases := []struct{ name, src, want string }{
		{"no marker", strings.Replace(appGo, "// mega:routes (keep)", "", 1), "has no"},
		{"two markers", strings.Replace(appGo, "// mega:routes (keep)", "// mega:routes\n// mega:routes", 1), "more than one"},
		{"namespace taken", strings.Replace(appGo, "return nil", `mount("/ws/x"); return nil`, 1), "already uses"},
		{"broken Go", strings.Replace(appGo, "return nil", "return nil +", 1), "does not parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, _, err := register("apps/main/app.go", []byte(tc.src), reg)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tc.want)) // the message explains
			is.True(strings.Contains(err.Error(), "apps/main/app.go"))
		})
	}
}
