package generator_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/generator"
)

func TestParseField(t *testing.T) {
	cases := []struct {
		in   string
		want generator.Field
		err  string // in the error; "" when in is valid
	}{
		{"title:string", generator.Field{Name: "title", Type: "string"}, ""},
		{"body:text", generator.Field{Name: "body", Type: "text"}, ""},
		{"views:int", generator.Field{Name: "views", Type: "int"}, ""},
		{"published:bool", generator.Field{Name: "published", Type: "bool"}, ""},
		{"published_at:time", generator.Field{Name: "published_at", Type: "time"}, ""},
		{"title", generator.Field{}, "write name:type"},
		{":string", generator.Field{}, "no name"},
		{"title:", generator.Field{}, "no type"},
		{"title:varchar", generator.Field{}, "did you mean title:string"},
		{"count:integer", generator.Field{}, "did you mean count:int"},
		{"at:datetime", generator.Field{}, "did you mean at:time"},
		{"x:uuid", generator.Field{}, "use one of string, text, int, bool, time"},
		{"Title:string", generator.Field{}, "snake case"},
		{"publishedAt:time", generator.Field{}, "published_at:time"},
		{"a b:string", generator.Field{}, "snake case"},
		{"id:int", generator.Field{}, "already has id"},
		{"created_at:time", generator.Field{}, "already has"},
		{"title:string:x", generator.Field{}, "unknown type"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			is := is.New(t)
			got, err := generator.ParseField(tc.in)
			if tc.err == "" {
				is.NoErr(err)
				is.Equal(got, tc.want)
				return
			}
			is.True(errors.Is(err, generator.ErrInvalid))
			is.True(strings.Contains(err.Error(), tc.err)) // the message explains
		})
	}
}

func TestParseFields(t *testing.T) {
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"title:string", "body:text"}, ""},
		{nil, "at least one field"},
		{[]string{"title:string", "title:text"}, "given twice"},
		{[]string{"user_id:int", "userid:int"}, ""},
		{[]string{"i_d:int"}, "would both be ID"},
		{[]string{"nope"}, "write name:type"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			fields, err := generator.ParseFields(tc.args)
			if tc.err == "" {
				is.NoErr(err)
				is.Equal(len(fields), len(tc.args))
				return
			}
			is.True(errors.Is(err, generator.ErrInvalid))
			is.True(strings.Contains(err.Error(), tc.err)) // the message explains
		})
	}
}

// FuzzParseField checks that ParseField never panics, accepts only
// snake-case names of known types, round-trips what it accepts, and
// explains what it refuses.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{"title:string", "published_at:time", "a:int", "x", ":", "a:b:c",
		"id:int", "Title:string", "a__b:bool", "é:text", "title:varchar", "", "a:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := generator.ParseField(s)
		if err != nil {
			if !errors.Is(err, generator.ErrInvalid) || err.Error() == "" {
				t.Fatalf("ParseField(%q): error %v does not match ErrInvalid", s, err)
			}
			return
		}
		if got.String() != s {
			t.Fatalf("ParseField(%q) = %v, which does not round-trip", s, got)
		}
		if !slices.Contains(generator.FieldTypes, got.Type) {
			t.Fatalf("ParseField(%q): unknown type %q accepted", s, got.Type)
		}
		if err := generator.CheckName("field", got.Name); err != nil && !strings.Contains(err.Error(), "file") && !strings.Contains(err.Error(), "build constraint") {
			t.Fatalf("ParseField(%q) accepted a name CheckName refuses: %v", s, err)
		}
		if _, err := generator.ParseFields([]string{s}); err != nil {
			t.Fatalf("ParseFields refuses %q, which ParseField accepts: %v", s, err)
		}
	})
}

// FuzzCheckName checks that CheckName never panics and that every name it
// accepts is snake case.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"rooms", "blog_posts", "Rooms", "a__b", "x_test", "", "9", "app"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := generator.CheckName("resource", s)
		if err != nil {
			if !errors.Is(err, generator.ErrInvalid) {
				t.Fatalf("CheckName(%q): %v does not match ErrInvalid", s, err)
			}
			return
		}
		if s == "" || s[0] < 'a' || s[0] > 'z' || strings.Contains(s, "__") || strings.HasSuffix(s, "_") {
			t.Fatalf("CheckName accepted %q", s)
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Fatalf("CheckName accepted %q with %q", s, r)
			}
		}
	})
}
