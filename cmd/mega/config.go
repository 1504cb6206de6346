package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/framework/config"
)

// frameworkImport is the import path of the package apps build on.
const frameworkImport = "github.com/megaframework/mega/framework"

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with mega.yaml",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "validate a config file and the apps it names",
			Description: "Loads the file as a mega process would (expanding ${VAR} from the environment) and\n" +
				"runs every check the boot runs that needs no network: every key and value, origin\n" +
				"patterns that can never match, every app in apps and appConfig being a directory\n" +
				"under apps/ next to the file, and every database the apps' code opens with\n" +
				"env.Database(\"name\") being in services.databases. Prints ok, or every problem\n" +
				"with its key path; exits 1 on problems.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "config", Value: config.DefaultPath, Usage: "the config `FILE` to check"},
			},
			Action: runConfigCheck,
		}},
		Action: unknownCommand,
	}
}

func runConfigCheck(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q; choose the file with --config FILE", c.Args().First())
	}
	path := c.String("config")
	errs, hint, err := checkConfig(path)
	if err != nil {
		return err
	}
	if len(errs) == 0 {
		fmt.Fprintln(c.App.Writer, "ok")
		return nil
	}
	// One header line, then one indented line per problem.
	fmt.Fprintf(c.App.ErrWriter, "config: %s is invalid:\n", path)
	for line := range strings.SplitSeq(errs.Error(), "\n") {
		fmt.Fprintf(c.App.ErrWriter, "  %s\n", line)
	}
	if hint != "" {
		fmt.Fprintln(c.App.ErrWriter, hint)
	}
	return cli.Exit("", exitFailure)
}

// checkConfig runs every check of mega config check on the file at path
// and returns all the problems found, with a hint to print after them. err
// is set only when the file or the apps directory cannot be read.
func checkConfig(path string) (problems config.Errors, hint string, err error) {
	cfg, err := config.Read(path, os.LookupEnv)
	if cfg == nil {
		return nil, "", err
	}
	if err != nil && !errors.As(err, &problems) {
		return nil, "", err
	}
	root := filepath.Dir(path)
	appsDir := filepath.Join(root, "apps")
	dirs, err := appDirs(appsDir)
	if err != nil {
		return nil, "", err
	}

	// The boot checks each app is compiled in; here, that it has a directory.
	var appErrs config.Errors
	if errors.As(cfg.CheckApps(dirs), &appErrs) {
		problems = append(problems, appErrs...)
		hint = fmt.Sprintf("(the apps are the directories under %s)", appsDir)
	}

	// The boot's Env.Database fails for a database that is not configured;
	// here, the names are found in the apps' code.
	var uses []config.DatabaseUse
	for _, app := range cfg.Apps {
		if !slices.Contains(dirs, app) {
			continue
		}
		found, err := databaseUses(root, app)
		if err != nil {
			return nil, "", err
		}
		uses = append(uses, found...)
	}
	var dbErrs config.Errors
	if errors.As(cfg.CheckDatabases(uses), &dbErrs) {
		problems = append(problems, dbErrs...)
	}
	return problems, hint, nil
}

// appDirs returns the names of the directories in dir, sorted.
func appDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// databaseUses finds the databases app opens: calls X.Database(name) in the
// non-test Go files under root/apps/<app> (subpackages included; testdata,
// vendor and hidden directories skipped) that import the framework, where
// name is a string literal or a string constant of the same package. Names
// computed at run time are not found; the boot still reports those. Files
// that do not parse are skipped: this is not the compiler. Positions are
// relative to root, e.g. "apps/main/app.go:13".
func databaseUses(root, app string) ([]config.DatabaseUse, error) {
	var uses []config.DatabaseUse
	err := filepath.WalkDir(filepath.Join(root, "apps", app), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); p != filepath.Join(root, "apps", app) && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		found, err := packageDatabaseUses(root, p, app)
		uses = append(uses, found...)
		return err
	})
	return uses, err
}

// packageDatabaseUses is databaseUses for the Go files of one directory.
func packageDatabaseUses(root, dir, app string) ([]config.DatabaseUse, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		files = append(files, f)
	}

	// The package's string constants, for Database(dbName).
	consts := map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringLit(vs.Values[i]); ok {
							consts[n.Name] = s
						}
					}
				}
			}
		}
	}

	var uses []config.DatabaseUse
	for _, f := range files {
		if !importsFramework(f) {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Database" {
				return true
			}
			name, ok := stringLit(call.Args[0])
			if id, isIdent := call.Args[0].(*ast.Ident); !ok && isIdent {
				name, ok = consts[id.Name]
			}
			if !ok {
				return true
			}
			pos := fset.Position(call.Pos())
			rel, err := filepath.Rel(root, pos.Filename)
			if err != nil {
				rel = pos.Filename
			}
			uses = append(uses, config.DatabaseUse{App: app, Name: name, At: fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)})
			return true
		})
	}
	return uses, nil
}

// stringLit returns the value of a string literal.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// importsFramework reports whether f imports the mega framework, whose
// *Env has the Database method; other packages' Database methods (a
// MongoDB client's, say) are not about services.databases.
func importsFramework(f *ast.File) bool {
	for _, imp := range f.Imports {
		if p, err := strconv.Unquote(imp.Path.Value); err == nil && p == frameworkImport {
			return true
		}
	}
	return false
}
