package main

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/cmd/mega/internal/devloop"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "build, run and live-reload the app in this directory",
		UsageText: "mega dev [--instances N] [--port P] [--delay D] [--grace G] [--dir DIR] [-- APP ARGS...]",
		Description: "Builds the app into tmp/ (go build -o tmp/app .), runs it on PORT (then PORT+1, …\n" +
			"with --instances), and on every saved change rebuilds and restarts it. A failed\n" +
			"build keeps the running version serving and prints the compiler errors. mega dev\n" +
			"hosts the NATS server the instances share (NATS_URL), so restarts keep the bus and\n" +
			"the cluster's roster; open pages reload after a rebuild, and at once when a static\n" +
			"file served with mega.StaticFS changes. Ctrl-C stops every instance and removes\n" +
			"tmp/. Arguments after -- go to the app. docs/dev.md has the details.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "instances", Aliases: []string{"n"}, Value: 1, Usage: "run `N` instances on consecutive ports, sharing one NATS"},
			&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Value: devloop.DefaultPort, EnvVars: []string{"PORT"}, Usage: "the first instance's `PORT`"},
			&cli.DurationFlag{Name: "delay", Value: devloop.DefaultDelay, Usage: "wait until files are quiet for `D` before building"},
			&cli.DurationFlag{Name: "grace", Value: devloop.DefaultGrace, Usage: "give a stopping instance `G` after SIGTERM before SIGKILL"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "the app's `DIR`ectory (with go.mod)"},
		},
		Action: runDev,
	}
}

func runDev(c *cli.Context) error {
	if n := c.Int("instances"); n < 1 {
		return usagef(c, "--instances: must be at least 1, got %d", n)
	}
	if p := c.Int("port"); p < 1 {
		return usagef(c, "--port: must be a port number, got %d", p)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := devloop.Run(ctx, devloop.Options{
		Dir:       c.String("dir"),
		Instances: c.Int("instances"),
		Port:      c.Int("port"),
		Delay:     c.Duration("delay"),
		Grace:     c.Duration("grace"),
		Args:      c.Args().Slice(),
		Out:       c.App.Writer,
		Color:     colorful(c.App.Writer),
	})
	if errors.Is(err, devloop.ErrInvalid) {
		return usagef(c, "%s", err)
	}
	return err
}

// colorful reports whether w is a terminal that wants colours.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
