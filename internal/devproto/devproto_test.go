package devproto_test

import (
	"errors"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/internal/devproto"
)

func TestNoticesRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		notice devproto.Notice
		wire   string
	}{
		{"reload", devproto.Reload{Files: []string{"apps/main/static/style.css", "b.js"}}, `{"files":["apps/main/static/style.css","b.js"],"type":"reload"}`},
		{"good build", devproto.Build{OK: true}, `{"ok":true,"type":"build"}`},
		{"failed build", devproto.Build{Output: "./main.go:3: syntax error"}, `{"ok":false,"output":"./main.go:3: syntax error","type":"build"}`},
		{"failed build without output", devproto.Build{}, `{"ok":false,"output":"","type":"build"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			data, err := devproto.Encode(tc.notice)
			is.NoErr(err)
			is.Equal(string(data), tc.wire) // today's wire shape, key order included
			got, err := devproto.Decode(data)
			is.NoErr(err)
			is.Equal(got, tc.notice)
		})
	}
}

func TestDecodeAcceptsAnyKeyOrderAndSpacing(t *testing.T) {
	is := is.New(t)
	got, err := devproto.Decode([]byte("{\n\"type\": \"reload\", \"files\": [\"a.css\"], \"extra\": 1}"))
	is.NoErr(err)
	is.Equal(got, devproto.Reload{Files: []string{"a.css"}})
}

func TestDecodeRefusesMalformedNotices(t *testing.T) {
	cases := []struct {
		name string
		data string
		want error
		msg  string
	}{
		{"not JSON", `reload`, devproto.ErrMalformed, "devproto: malformed notice: invalid character 'r' looking for beginning of value"},
		{"truncated", `{"type":"reload","files":[`, devproto.ErrMalformed, "devproto: malformed notice: unexpected end of JSON input"},
		{"not an object", `["reload"]`, devproto.ErrMalformed, "devproto: malformed notice: json: cannot unmarshal array into Go value of type devproto.notice"},
		{"no type", `{"files":["a.css"]}`, devproto.ErrMalformed, `devproto: malformed notice: no "type"`},
		{"files of the wrong type", `{"type":"reload","files":"a.css"}`, devproto.ErrMalformed, ""},
		{"build without ok", `{"type":"build","output":"x"}`, devproto.ErrMalformed, `devproto: malformed notice: a build notice needs "ok"`},
		{"output not a string", `{"type":"build","ok":false,"output":3}`, devproto.ErrMalformed, ""},
		{"unknown type", `{"type":"restart"}`, devproto.ErrUnknownType, `devproto: unknown notice type "restart"`},
		{"empty", ``, devproto.ErrMalformed, "devproto: malformed notice: unexpected end of JSON input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			n, err := devproto.Decode([]byte(tc.data))
			is.True(err != nil)
			is.Equal(n, nil)
			is.True(errors.Is(err, tc.want))
			if tc.msg != "" {
				is.Equal(err.Error(), tc.msg)
			}
		})
	}
}

func TestEncodeNil(t *testing.T) {
	is := is.New(t)
	_, err := devproto.Encode(nil)
	is.True(err != nil)
}

func TestEnabled(t *testing.T) {
	cases := []struct {
		v    string
		want bool
	}{
		{"1", true}, {"true", true}, {"TRUE", true}, {"True", true},
		{"", false}, {"0", false}, {"false", false}, {"yes", false}, {" 1", false},
	}
	for _, tc := range cases {
		t.Run(tc.v, func(t *testing.T) {
			is.New(t).Equal(devproto.Enabled(tc.v), tc.want)
		})
	}
}

// FuzzDecode: no input panics Decode, and whatever it accepts encodes to a
// notice that decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"files":["a.css"],"type":"reload"}`, `{"ok":false,"output":"x","type":"build"}`, `{"type":"build","ok":true}`, `{"type":1}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := devproto.Decode(data)
		if err != nil {
			if n != nil || !(errors.Is(err, devproto.ErrMalformed) || errors.Is(err, devproto.ErrUnknownType)) {
				t.Fatalf("Decode(%q) = %v, %v", data, n, err)
			}
			return
		}
		again, err := devproto.Encode(n)
		if err != nil {
			t.Fatal(err)
		}
		back, err := devproto.Decode(again)
		if err != nil {
			t.Fatalf("%s does not decode: %v", again, err)
		}
		is.New(t).Equal(back, n)
	})
}
