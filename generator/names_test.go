package generator_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/generator"
)

func TestCheckAppName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
		want string // in the error
	}{
		{"crud", true, ""},
		{"chat-app", true, ""},
		{"app_2", true, ""},
		{"a", true, ""},
		{"", false, "needs a name"},
		{"My App", false, `"my-app"`},
		{"Crud", false, "lowercase"},
		{"2fast", false, "starting with a letter"},
		{"-x", false, "starting with a letter"},
		{"a/b", false, "lowercase letters"},
		{"../x", false, "lowercase letters"},
		{"naïve", false, "lowercase letters"},
		{strings.Repeat("a", 65), false, "at most 64"},
		{"fmt", false, "standard library"},
		{"net", false, "standard library"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			err := generator.CheckAppName(tc.name)
			if tc.ok {
				is.NoErr(err)
				return
			}
			is.True(err != nil)
			is.True(errors.Is(err, generator.ErrInvalid))
			is.True(strings.Contains(err.Error(), tc.want)) // the message explains
		})
	}
}

func TestCheckModulePath(t *testing.T) {
	cases := []struct {
		path string
		ok   bool
		want string
	}{
		{"crud", true, ""},
		{"example.com/chat", true, ""},
		{"github.com/Someone/My-App", true, ""},
		{"example.com/a/v2", true, ""},
		{"", false, "empty"},
		{"example.com//a", false, "empty element"},
		{"/abs", false, "empty element"},
		{"a/", false, "empty element"},
		{"example.com/a b", false, "letters, digits"},
		{"example.com/.hidden", false, "dot"},
		{"Example.com/x", false, "lowercase"},
		{"github.com/megaframework/mega", false, "mega's own"},
		{"github.com/megaframework/mega/x", false, "mega's own"},
		{"sort/x", false, "standard library"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			is := is.New(t)
			err := generator.CheckModulePath(tc.path)
			if tc.ok {
				is.NoErr(err)
				return
			}
			is.True(errors.Is(err, generator.ErrInvalid))
			is.True(strings.Contains(err.Error(), tc.want)) // the message explains
		})
	}
}

func TestCheckName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
		want string
	}{
		{"rooms", true, ""},
		{"blog_posts", true, ""},
		{"v2_items", true, ""},
		{"", false, "needs a name"},
		{"Rooms", false, "lowercase"},
		{"blogPosts", false, `"blog_posts"`},
		{"blog-posts", false, `"blog_posts"`},
		{"blog__posts", false, "single underscores"},
		{"posts_", false, "single underscores"},
		{"_posts", false, "starting with a letter"},
		{"9lives", false, "starting with a letter"},
		{"app", false, "app.go"},
		{"api", false, "api.go"},
		{"rooms_test", false, "_test"},
		{"posts_linux", false, "_linux"},
		{"posts_amd64", false, "_amd64"},
		{strings.Repeat("a", 49), false, "at most 48"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			err := generator.CheckName("resource", tc.name)
			if tc.ok {
				is.NoErr(err)
				return
			}
			is.True(errors.Is(err, generator.ErrInvalid))
			is.True(strings.Contains(err.Error(), tc.want)) // the message explains
		})
	}
}
