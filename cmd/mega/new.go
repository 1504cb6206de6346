package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/generator"
)

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "new",
		Usage:     "create a new app in ./NAME",
		ArgsUsage: "NAME",
		Description: "Writes a working app into ./NAME: go.mod (requiring the framework, with a replace\n" +
			"to the local mega checkout), go.sum (go mod tidy), main.go, mega.yaml, README.md,\n" +
			"Taskfile.yml, .gitignore, apps/main (the chat channel at /ws/chat, the chat page\n" +
			"at /, the REST resource /api/rooms on SQLite, and their tests), and the deployment\n" +
			"files: a Dockerfile built from vendor/ (task vendor), .dockerignore, and a\n" +
			"compose.yaml with three NATS servers and two instances.\n\n" +
			"NAME is the directory and the default module path: lowercase letters, digits, '-'\n" +
			"and '_', starting with a letter. A directory that exists and is not empty is\n" +
			"refused unless --force, which overwrites the app's files and deletes nothing.\n\n" +
			"The checkout is found from the mega binary's own source, else upwards from the\n" +
			"working directory or the binary; --framework DIR chooses it.\n\n" +
			"Example:\n\n" +
			"   mega new chatapp --module example.com/chatapp\n" +
			"   cd chatapp && go run .",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "module", Usage: "the app's Go module `PATH` (default: NAME)"},
			&cli.StringFlag{Name: "framework", Usage: "the mega checkout `DIR` go.mod's replace points at (default: found automatically)"},
			&cli.BoolFlag{Name: "force", DisableDefaultText: true, Usage: "write into a directory that is not empty, overwriting the app's files (never deletes)"},
			&cli.BoolFlag{Name: "dry-run", DisableDefaultText: true, Usage: "print the files that would be written; write nothing"},
			&cli.BoolFlag{Name: "skip-tidy", DisableDefaultText: true, Usage: "do not run go mod tidy afterwards (go.sum is then missing)"},
		},
		Action: runNew,
	}
}

func runNew(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return usagef(c, "missing NAME, e.g. mega new chatapp")
	case c.NArg() > 1:
		return usagef(c, "want one NAME, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}
	name := c.Args().First()
	if err := generator.CheckAppName(name); err != nil {
		return checkArgs(c, err)
	}
	fw, err := generator.FindFramework(c.String("framework"))
	if err != nil {
		return err
	}
	plan, err := generator.New(generator.NewOptions{
		Name:      name,
		Module:    c.String("module"),
		Framework: fw,
		Force:     c.Bool("force"),
	})
	if err != nil {
		return checkArgs(c, err)
	}
	out := c.App.Writer
	dry := c.Bool("dry-run")
	module := c.String("module")
	if module == "" {
		module = name
	}
	fmt.Fprintf(out, "Creating %s (module %s) with the framework at %s\n", name, module, fw)
	if err := plan.Write(out, dry); err != nil {
		return err
	}
	if dry {
		fmt.Fprintln(out, "\nDry run: nothing was written.")
		return nil
	}
	if !c.Bool("skip-tidy") {
		if err := generator.Tidy(c.Context, plan.Root, out); err != nil {
			return fmt.Errorf("%w\nThe app's files are written; fix the problem, then run go mod tidy in %s", err, name)
		}
	}
	fmt.Fprintf(out, "\nDone. Next:\n\n  cd %s\n", relToWD(plan.Root))
	if c.Bool("skip-tidy") {
		fmt.Fprintln(out, "  go mod tidy")
	}
	fmt.Fprintln(out, "  go run .          # then open http://localhost:8080")
	fmt.Fprintln(out, "  go test ./...")
	return nil
}

// relToWD returns dir relative to the working directory when that is
// shorter to type.
func relToWD(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return dir
	}
	if rel, err := filepath.Rel(wd, dir); err == nil && len(rel) < len(dir) {
		return rel
	}
	return dir
}
