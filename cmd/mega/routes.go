package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/framework/config"
)

func routesCommand() *cli.Command {
	return &cli.Command{
		Name:      "routes",
		Usage:     "list the app's HTTP routes and its channels' message types",
		UsageText: "mega routes [--config FILE] [--json] [--dir DIR]",
		Description: "Runs the app in DIR as `go run . routes --config FILE`: the app's mega.Main builds\n" +
			"the apps that FILE lists, as the boot does (their factories run and open their\n" +
			"databases) but without listening or connecting a bus, prints and exits. It prints\n" +
			"each app's HTTP routes (one line per pattern, with its methods; * for any method)\n" +
			"and each channel's namespace with the message types it answers: those registered\n" +
			"on its embedded mega.Router, and the framework's own (history.get and\n" +
			"history.recover with history, token.refresh with WithTokenRefresh). A channel\n" +
			"with an OnMessage of its own shows \"custom OnMessage\". --json prints the same\n" +
			"as JSON for tools. FILE is relative to DIR.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Value: config.DefaultPath, Usage: "the config `FILE` that lists the apps"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of tables"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "the app's `DIR`ectory (with go.mod)"},
		},
		Action: runRoutes,
	}
}

func runRoutes(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q; choose the app with --dir DIR", c.Args().First())
	}
	dir := c.String("dir")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s has no go.mod: run mega routes in an app's directory, or pass --dir", dir)
		}
		return err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("mega routes runs the app with the go command, which is not on PATH: %w", err)
	}
	args := []string{"run", ".", "routes", "--config", c.String("config")}
	if c.Bool("json") {
		args = append(args, "--json")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Stdout = c.App.Writer
	cmd.Stderr = c.App.ErrWriter
	fmt.Fprintf(c.App.ErrWriter, "mega routes: building and running the app in %s (go run . routes)…\n", dir)
	if err := cmd.Run(); err != nil {
		// The app or the go command said why on stderr.
		return fmt.Errorf("go run . routes in %s: %w", dir, err)
	}
	return nil
}
