package config_test

import (
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/config"
)

func TestValidSubjectPrefix(t *testing.T) {
	cases := []struct {
		prefix string
		want   bool
	}{
		{"mega.ws", true},
		{"acme", true},
		{"a-b_c.d1.ünï", true},
		{"", false},
		{".mega", false},
		{"mega.", false},
		{"mega..ws", false},
		{"mega.*", false},
		{"mega.>", false},
		{"me*ga", false},
		{"mega ws", false},
		{"mega\tws", false},
		{"mega\u00a0ws", false}, // a non-ASCII space
		{"mega\x7fws", false},
		{"mega\x00ws", false},
	}
	for _, c := range cases {
		t.Run(c.prefix, func(t *testing.T) {
			is.New(t).Equal(config.ValidSubjectPrefix(c.prefix), c.want)
		})
	}
}
