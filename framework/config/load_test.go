package config_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/config"
)

func TestEnvExpansion(t *testing.T) {
	const usage = "(write ${VAR} or ${VAR:-default}, or $$ for a literal $)"
	tests := []struct {
		name    string
		dsn     string // the value of services.databases.main.dsn
		vars    map[string]string
		want    string // the expanded dsn, when no error
		wantErr string
	}{
		{"set", "${DB}", map[string]string{"DB": "file:x.db"}, "file:x.db", ""},
		{"set, default ignored", "${DB:-file:d.db}", map[string]string{"DB": "file:x.db"}, "file:x.db", ""},
		{"unset with default", "${DB:-file:d.db}", nil, "file:d.db", ""},
		{"empty with default", "${DB:-file:d.db}", map[string]string{"DB": ""}, "file:d.db", ""},
		{"default may contain :-", "${DB:-a:-b}", nil, "a:-b", ""},
		{"empty default", "x${DB:-}y", nil, "xy", ""},
		{"several references", "file:${DIR:-data}/${NAME}.db", map[string]string{"NAME": "app"}, "file:data/app.db", ""},
		{"text around", "pre-${DB}-post", map[string]string{"DB": "x"}, "pre-x-post", ""},
		{"$$ is a literal $", "a$$b", nil, "a$b", ""},
		{"$${ is not a reference", "$${DB}", nil, "${DB}", ""},
		{"lone $ kept", "cost $5 and $HOME$", nil, "cost $5 and $HOME$", ""},
		{"value not expanded again", "${DB}", map[string]string{"DB": "${OTHER}"}, "${OTHER}", ""},
		{"YAML-looking value stays a string", "${DB}", map[string]string{"DB": "{a: b}\n- c: [1, 2]\n---\nx: &y"}, "{a: b}\n- c: [1, 2]\n---\nx: &y", ""},
		{"unset without default", "${DB}", nil, "",
			`services.databases.main.dsn: environment variable DB is not set (use ${DB:-default} to give a default)`},
		{"unclosed", "${DB", nil, "",
			`services.databases.main.dsn: unclosed "${" in "${DB" ` + usage},
		{"empty name", "${}", nil, "",
			`services.databases.main.dsn: malformed reference "${}" in "${}" ` + usage},
		{"bad name", "${1DB}", nil, "",
			`services.databases.main.dsn: malformed reference "${1DB}" in "${1DB}" ` + usage},
		{"colon without dash", "${DB:x}", nil, "",
			`services.databases.main.dsn: malformed reference "${DB:x}" in "${DB:x}" ` + usage},
		{"dash without colon", "${DB-x}", nil, "",
			`services.databases.main.dsn: malformed reference "${DB-x}" in "${DB-x}" ` + usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			src := "services: {databases: {main: {driver: sqlite, dsn: " + quote(tt.dsn) + "}}}"
			c, err := config.Parse([]byte(src), env(tt.vars))
			if tt.wantErr != "" {
				is.Equal(problems(t, src, tt.vars), []string{tt.wantErr})
				return
			}
			is.NoErr(err)
			is.Equal(c.Services.Databases["main"].DSN, tt.want)
		})
	}
}

// quote writes s as a double-quoted YAML scalar.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func TestEnvExpansionStructure(t *testing.T) {
	t.Run("a value cannot add list items", func(t *testing.T) {
		is := is.New(t)
		vars := map[string]string{"APPS": "main, blog"}
		is.Equal(problems(t, `apps: ["${APPS}"]`, vars),
			[]string{`apps[0]: "main, blog" is not a valid app name (use lowercase letters, digits, "-" and "_", starting with a letter)`})
	})
	t.Run("a value cannot add keys", func(t *testing.T) {
		is := is.New(t)
		vars := map[string]string{"LEVEL": "debug\nformat: json"}
		is.Equal(problems(t, `logger: {level: "${LEVEL}"}`, vars),
			[]string{`logger.level: must be "debug", "info", "warn" or "error", got "debug\nformat: json"`})
	})
	t.Run("numbers, sizes and durations expand", func(t *testing.T) {
		is := is.New(t)
		vars := map[string]string{"RATE": "7", "LIMIT": "2KiB", "TTL": "3s", "HOST": ""}
		src := `
server: {addr: "${HOST}:${PORT:-9000}"}
websocket: {messagesPerSecond: "${RATE}", readLimit: "${LIMIT}"}
services: {buses: {main: {driver: nats, url: "${NATS_URL:-embedded}"}}}
wsCluster: {bus: main, roster: {ttl: "${TTL}"}}
`
		c, err := config.Parse([]byte(src), env(vars))
		is.NoErr(err)
		is.Equal(c.Server.Addr, ":9000")
		is.Equal(c.WebSocket.MessagesPerSecond, 7.0)
		is.Equal(c.WebSocket.ReadLimit, int64(2048))
		is.Equal(c.WSCluster.Roster.TTL.String(), "3s")
		is.True(c.Services.Buses["main"].Embedded())
	})
	t.Run("keys are not expanded", func(t *testing.T) {
		is := is.New(t)
		is.Equal(problems(t, "${KEY}: 1", map[string]string{"KEY": "apps"}),
			[]string{`${KEY}: unknown key (valid: appConfig, apps, logger, metrics, server, services, websocket, wsCluster)`})
	})
}

func TestLoad(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		is := is.New(t)
		c, err := config.Load("testdata/nope.yaml")
		is.True(c == nil)
		is.True(errors.Is(err, fs.ErrNotExist))
		is.True(!errors.Is(err, config.ErrInvalid)) // not a validation problem
		is.Equal(err.Error(), "config: open testdata/nope.yaml: no such file or directory (pass --config to choose another file)")
	})
	t.Run("directory", func(t *testing.T) {
		is := is.New(t)
		_, err := config.Load("testdata")
		is.True(err != nil)
		is.True(strings.HasPrefix(err.Error(), "config: read testdata: "))
	})
	t.Run("uses the process environment", func(t *testing.T) {
		is := is.New(t)
		t.Setenv("PORT", "9999")
		t.Setenv("NATS_URL", "nats://127.0.0.1:4222")
		c, err := config.Load("testdata/full.yaml")
		is.NoErr(err)
		is.Equal(c.Server.Addr, ":9999")
		is.Equal(c.Services.Buses["main"].URLs(), []string{"nats://127.0.0.1:4222"})
	})
	t.Run("Read keeps the config of an invalid file", func(t *testing.T) {
		is := is.New(t)
		c, err := config.Read("testdata/bad.yaml", nil)
		is.True(c != nil)
		is.Equal(c.Apps, []string{"main"}) // what was understood: the valid entries
		var errs config.Errors
		is.True(errors.As(err, &errs)) // not wrapped: more problems can be added
		is.Equal(len(errs), 19)

		c, err = config.Read("testdata/nope.yaml", nil)
		is.True(c == nil)
		is.True(errors.Is(err, fs.ErrNotExist))

		c, err = config.Read("testdata/full.yaml", env(nil))
		is.NoErr(err)
		is.Equal(c.Apps, []string{"main", "admin"})
	})
	t.Run("invalid file", func(t *testing.T) {
		is := is.New(t)
		c, err := config.Load("testdata/bad.yaml")
		is.True(c == nil)
		is.True(errors.Is(err, config.ErrInvalid))
		var errs config.Errors
		is.True(errors.As(err, &errs))
		is.Equal(len(errs), 19)
		is.True(strings.HasPrefix(err.Error(), "config: testdata/bad.yaml is invalid:\nappConfig.main.websocket.allowedOrigins[0]: "))
	})
}
