package devloop

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		path string
		want Kind
	}{
		{"main.go", Source},
		{"apps/main/chat.go", Source},
		{"./apps/main/chat.go", Source},
		{"go.mod", Source},
		{"go.sum", Source},
		{"apps/main/chat_test.go", Ignore},
		{"mega.yaml", Config},
		{"mega.dev.yml", Config},
		{"apps/main/mega.yaml", Ignore}, // only the root's config is read at start-up
		{"apps/main/static/index.html", Asset},
		{"apps/main/static/app.js", Asset},
		{"apps/main/static/fonts/x.bin", Asset}, // anything in a static dir
		{"apps/main/templates/page.tmpl", Asset},
		{"apps/main/migrations/001.sql", Asset},
		{"README.md", Ignore},
		{"data/app.db", Ignore},
		{"data/app.db-journal", Ignore},
		{"notes.json", Ignore},
		// tool and output directories
		{".git/index", Ignore},
		{".git/objects/ab/cdef.go", Ignore},
		{"tmp/app", Ignore},
		{"tmp/x.go", Ignore},
		{"bin/x.go", Ignore},
		{"vendor/github.com/x/y.go", Ignore},
		{"web/node_modules/x/index.js", Ignore},
		{"apps/main/testdata/golden.html", Ignore},
		{".idea/workspace.xml", Ignore},
		{"_build/x.go", Ignore},
		{"apps/.hidden/x.go", Ignore},
		// editors' temp files
		{"4913", Ignore},
		{"apps/main/4913", Ignore},
		{"main.go~", Ignore},
		{".#main.go", Ignore},
		{"#main.go#", Ignore},
		{".main.go.swp", Ignore},
		{"main.go.swp", Ignore},
		{"main.go.swo", Ignore},
		{"main.go.swx", Ignore},
		{"main.go___jb_tmp___", Ignore},
		{"main.go___jb_old___", Ignore},
		{"static/style.css.kate-swp", Ignore},
		{".goutputstream-ABC123", Ignore},
		{"main.go.tmp", Ignore},
		{"apps/main/static/.DS_Store", Ignore},
	}
	for _, tt := range tests {
		if got := Classify(tt.path); got != tt.want {
			t.Errorf("Classify(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestSkipDir(t *testing.T) {
	for name, want := range map[string]bool{
		".": false, "apps": false, "static": false, "internal": false,
		".git": true, "tmp": true, "bin": true, "vendor": true, "node_modules": true,
		"testdata": true, ".vscode": true, "_old": true,
	} {
		if got := SkipDir(name); got != want {
			t.Errorf("SkipDir(%q) = %v, want %v", name, got, want)
		}
	}
}
