package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// writeTree writes files (path relative to dir: content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// appOpening is an app's Go file that opens the databases given as Go
// expressions through the framework's Env.
func appOpening(exprs ...string) string {
	var b strings.Builder
	b.WriteString("package app\n\nimport mega \"github.com/megaframework/mega/framework\"\n\nconst dbName = \"const-db\"\n\nfunc New(env *mega.Env) (*mega.App, error) {\n")
	for _, e := range exprs {
		b.WriteString("\tif _, err := env.Database(" + e + "); err != nil {\n\t\treturn nil, err\n\t}\n")
	}
	b.WriteString("\treturn env.NewApp(), nil\n}\n")
	return b.String()
}

func TestConfigCheckFindsEveryProblem(t *testing.T) {
	const dbs = "services: {databases: {main: {driver: sqlite, dsn: 'file:data/app.db'}}}\n"
	cases := []struct {
		name  string
		files map[string]string
		want  []string // the problem lines, in order; nil: ok
	}{
		{"ok", map[string]string{
			"mega.yaml":        dbs,
			"apps/main/app.go": appOpening(`"main"`),
		}, nil},
		{"every missing app directory, with other problems", map[string]string{
			"mega.yaml":        "apps: [main, blog, admin]\nlogger: {level: loud}\n",
			"apps/main/app.go": appOpening(),
		}, []string{
			`apps[1]: app "blog" is not registered (registered: main)`,
			`apps[2]: app "admin" is not registered (registered: main)`,
			`logger.level: must be "debug", "info", "warn" or "error", got "loud" (line 2)`,
		}},
		{"no apps directory at all", map[string]string{
			"mega.yaml": "appConfig: {main: {logger: {level: debug}}}\n",
		}, []string{
			`appConfig.main: app "main" is not registered (registered: none)`,
			`apps[0]: app "main" is not registered (registered: none)`,
		}},
		{"origin patterns that can never match", map[string]string{
			"mega.yaml":        "websocket: {allowedOrigins: ['https://app.example.com/', '*.example.com']}\nappConfig: {main: {websocket: {allowedOrigins: ['example.com/chat']}}}\n",
			"apps/main/app.go": appOpening(),
		}, []string{
			`appConfig.main.websocket.allowedOrigins[0]: "example.com/chat" can never match: an origin is matched as "host" or "scheme://host", without a path or trailing slash; write "example.com" (line 2)`,
			`websocket.allowedOrigins[0]: "https://app.example.com/" can never match: an origin is matched as "host" or "scheme://host", without a path or trailing slash; write "app.example.com" (any scheme) or "https://app.example.com" (https only) (line 1)`,
		}},
		{"a database the app opens and no services.databases", map[string]string{
			"mega.yaml":        "apps: [main]\n",
			"apps/main/app.go": appOpening(`"main"`),
		}, []string{
			`services.databases.main: no such database, but app "main" opens it at apps/main/app.go:8 (have: none); add it, e.g. main: { driver: sqlite, dsn: "file:data/main.db" }`,
		}},
		{"databases by constant, in a subpackage, in several apps", map[string]string{
			"mega.yaml":                  "apps: [main, admin]\n" + dbs,
			"apps/main/app.go":           appOpening(`"main"`, "dbName", `"main"`),
			"apps/main/store/store.go":   "package store\n\nimport mega \"github.com/megaframework/mega/framework\"\n\nfunc Open(env *mega.Env) { env.Database(`audit`) }\n",
			"apps/admin/admin.go":        appOpening("`reports`"),
			"apps/admin/admin_test.go":   appOpening(`"only-in-tests"`),
			"apps/admin/testdata/x.go":   appOpening(`"in-testdata"`),
			"apps/admin/broken.go":       "package app\n\nfunc {",
			"apps/admin/mongo.go":        "package app\n\nimport \"example.com/mongo\"\n\nfunc m(c *mongo.Client) { c.Database(\"events\") }\n",
			"apps/admin/computed.go":     appOpening(`"db-" + suffix`),
			"apps/admin/vars.go":         "package app\n\nvar suffix = \"x\"\n",
			"apps/admin/.hidden/h.go":    appOpening(`"hidden"`),
			"apps/admin/vendor/v/v.go":   appOpening(`"vendored"`),
			"apps/admin/_ignored/i.go":   appOpening(`"ignored"`),
			"apps/admin/notgo/readme.md": `env.Database("markdown")`,
		}, []string{
			`services.databases.audit: no such database, but app "main" opens it at apps/main/store/store.go:5 (have: main); add it, e.g. audit: { driver: sqlite, dsn: "file:data/audit.db" }`,
			`services.databases.const-db: no such database, but app "main" opens it at apps/main/app.go:11 (have: main); add it, e.g. const-db: { driver: sqlite, dsn: "file:data/const-db.db" }`,
			`services.databases.reports: no such database, but app "admin" opens it at apps/admin/admin.go:8 (have: main); add it, e.g. reports: { driver: sqlite, dsn: "file:data/reports.db" }`,
		}},
		{"an invalid database name in the code", map[string]string{
			"mega.yaml":        dbs,
			"apps/main/app.go": appOpening(`"Main DB"`),
		}, []string{
			`services.databases: app "main" opens database "Main DB" at apps/main/app.go:8, which is not a valid database name (use lowercase letters, digits, "-" and "_", starting with a letter)`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			code, stdout, stderr := mega(t, "config", "check", "--config", filepath.Join(dir, "mega.yaml"))
			if tc.want == nil {
				is.Equal(stderr, "")
				is.Equal(stdout, "ok\n")
				is.Equal(code, exitOK)
				return
			}
			is.Equal(code, exitFailure)
			is.Equal(stdout, "")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			is.Equal(lines[0], "config: "+filepath.Join(dir, "mega.yaml")+" is invalid:")
			var got []string
			for _, l := range lines[1:] {
				if s, ok := strings.CutPrefix(l, "  "); ok {
					got = append(got, s)
				}
			}
			is.Equal(got, tc.want)
			if strings.Contains(stderr, "is not registered") {
				is.Equal(lines[len(lines)-1], "(the apps are the directories under "+filepath.Join(dir, "apps")+")")
			}
		})
	}
}

// TestConfigCheckSample checks the committed sample app: what mega new
// writes passes its own config check.
func TestConfigCheckSample(t *testing.T) {
	is := is.New(t)
	code, stdout, stderr := mega(t, "config", "check", "--config", filepath.Join("..", "..", "sample", "crud", "mega.yaml"))
	is.Equal(stderr, "")
	is.Equal(stdout, "ok\n")
	is.Equal(code, exitOK)
}
