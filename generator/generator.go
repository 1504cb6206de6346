// Package generator writes mega apps: a whole new app (New), and channels
// and REST resources added to an existing one (Channel, Resource).
//
// It renders the embedded templates of package templates with
// text/template (missingkey=error) and formats every Go file with
// go/format, so its output is gofmt-clean and deterministic: the same
// inputs give the same bytes, with no timestamps and no map order.
//
// Every command first makes a Plan, reading the disk but writing nothing;
// Plan.Write then writes it, printing one progress line per file. A file
// that exists with other content is a conflict unless forced, and nothing
// is ever deleted.
package generator

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
)

// appData is what the app templates (new/ and shared/) use.
type appData struct {
	// Name is the app's directory name; Module its module path.
	Name, Module string
	// GoVersion is the go directive of the framework's go.mod: the Go of
	// go.mod and of the Dockerfile's builder image.
	GoVersion string
	// NATSImage is the nats image compose.yaml runs (see natsImage).
	NATSImage string
	// Replace is where go.mod's replace points: the framework checkout.
	Replace string
	// App is the directory under apps/ ("main"), Package its Go package
	// ("mainapp") and Import its import path.
	App, Package, Import string
}

// NewOptions says what New writes.
type NewOptions struct {
	// Name is the app's name: its directory and default module path.
	Name string
	// Module is the module path; Name when empty.
	Module string
	// Dir is the directory to write (absolute or relative to the working
	// directory); ./Name when empty.
	Dir string
	// Framework is the root of the mega checkout go.mod replaces the
	// framework with (see FindFramework).
	Framework string
	// Force writes into a directory that is not empty, overwriting the
	// files the app has; it never deletes anything.
	Force bool
}

// NotEmptyError means mega new was pointed at a directory with files in it.
type NotEmptyError struct{ Dir string }

// Error names the directory and the way out.
func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("%s exists and is not empty; choose another name, or pass --force to write into it (files the app has are overwritten, nothing is deleted)", e.Dir)
}

// New plans a new app: go.mod, main.go, mega.yaml, README.md, Taskfile.yml,
// .gitignore, the deployment files (Dockerfile, .dockerignore,
// compose.yaml) and apps/main with the chat channel, the chat page and the
// rooms resource, all with tests. go.sum is not part of the plan: run
// Tidy after writing it.
func New(opts NewOptions) (*Plan, error) {
	if err := CheckAppName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Module == "" {
		opts.Module = opts.Name
	}
	if err := CheckModulePath(opts.Module); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		opts.Dir = opts.Name
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.Framework == "" {
		return nil, errors.New("generator: NewOptions.Framework is empty (see FindFramework)")
	}
	goVersion, err := goModDirective(filepath.Join(opts.Framework, "go.mod"), "go")
	if err != nil {
		return nil, fmt.Errorf("read the framework's go.mod: %w", err)
	}
	nats, err := natsImage(filepath.Join(opts.Framework, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("read the framework's go.mod: %w", err)
	}
	if !opts.Force {
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return nil, &NotEmptyError{Dir: opts.Dir}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}

	data := appData{
		Name: opts.Name, Module: opts.Module, GoVersion: goVersion, NATSImage: nats,
		Replace: replacePath(dir, opts.Framework),
		App:     "main", Package: "mainapp", Import: opts.Module + "/apps/main",
	}
	n := names{app: data.App}
	files, err := render("new", data, n, mustCreate)
	if err != nil {
		return nil, err
	}
	shared, err := render("shared", data, n, mustCreate)
	if err != nil {
		return nil, err
	}
	files = append(files, shared...)

	// The rooms resource is a generated resource like any other.
	// Its changes are broadcast to the chat channel the page listens on.
	rooms, err := resourceFiles(data, ResourceOptions{Name: "rooms", Fields: []Field{{"name", TypeString}, {"topic", TypeText}}, Live: DefaultLive}, false)
	if err != nil {
		return nil, err
	}
	files = append(files, rooms.files...)
	appGo := "apps/" + data.App + "/app.go"
	for i, f := range files {
		if f.path == appGo {
			src, _, err := register(appGo, f.data, rooms.reg)
			if err != nil {
				return nil, err
			}
			files[i].data = src
		}
	}
	return makePlan(dir, files, opts.Force)
}

// app is an existing app that mega generate adds to.
type app struct {
	root string // the directory of its go.mod
	data appData
}

// findApp finds the app whose directory apps/<name> mega generate adds to:
// dir is the app's root (--dir); when empty, the nearest directory at or
// above the working directory with a go.mod.
func findApp(dir, name string) (*app, error) {
	if name == "" {
		name = "main"
	}
	root := dir
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		for root = wd; ; {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				return nil, fmt.Errorf("no go.mod in %s or above: run mega generate inside an app made by mega new, or pass --dir", wd)
			}
			root = parent
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("%s is not an app's root: %w", root, err)
	}
	appGo := filepath.Join(root, "apps", name, "app.go")
	src, err := os.ReadFile(appGo)
	if err != nil {
		return nil, fmt.Errorf("%s has no apps/%s/app.go, the app mega generate adds to: %w", root, name, err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), appGo, src, parser.PackageClauseOnly)
	if err != nil {
		return nil, fmt.Errorf("read apps/%s/app.go: %w", name, err)
	}
	return &app{root: root, data: appData{
		Module: module, App: name, Package: f.Name.Name,
		Import: module + "/apps/" + name,
	}}, nil
}

// addPlan plans the files of one generated channel or resource: files,
// the support files they need, and their registration in app.go.
func (a *app) addPlan(files []file, reg registration, force bool) (*Plan, error) {
	shared, err := render("shared", a.data, names{app: a.data.App}, ifMissing)
	if err != nil {
		return nil, err
	}
	files = append(files, shared...)
	appGo := "apps/" + a.data.App + "/app.go"
	src, err := os.ReadFile(filepath.Join(a.root, filepath.FromSlash(appGo)))
	if err != nil {
		return nil, err
	}
	updated, _, err := register(appGo, src, reg)
	if err != nil {
		return nil, err
	}
	files = append(files, file{path: appGo, data: updated, policy: rewrite})
	if err := checkClashes(a.root, files); err != nil {
		return nil, err
	}
	return makePlan(a.root, files, force)
}

// generated is what one channel or resource adds.
type generated struct {
	files []file
	reg   registration
}
