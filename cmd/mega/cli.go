package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/generator"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run runs mega with args (args[0] is the program name), writing output to
// stdout and errors to stderr, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	args, err := interspersed(app, args)
	if err == nil {
		err = app.Run(args)
	}
	return report(err, stderr)
}

// newApp returns the command tree.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "mega",
		HelpName:  "mega",
		Usage:     "scaffold and run realtime web apps",
		UsageText: "mega COMMAND [flags] [arguments]",
		Description: "mega writes apps built on the mega framework: WebSocket channels with cluster-wide\n" +
			"presence over NATS, a REST API on SQLite and a web page. Start with\n\n" +
			"   mega new chatapp && cd chatapp && go run .\n\n" +
			"Flags may come before or after arguments. Exit codes: 0 success, 1 failure,\n" +
			"2 usage error. Every command is described in docs/cli.md.",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			newCommand(),
			generateCommand(),
			devCommand(),
			configCommand(),
			routesCommand(),
			inspectCommand(),
			completionCommand(),
			versionCommand(),
		},
		HideVersion:          true, // mega version
		EnableBashCompletion: false,
		// Errors are returned to run, which prints them and picks the exit
		// code; urfave/cli must not exit the process itself.
		ExitErrHandler: func(*cli.Context, error) {},
		Action:         unknownCommand,
	}
	setUsageHandlers(app.Commands)
	app.OnUsageError = onUsageError
	return app
}

// usageError is a mistake in how mega was called: a missing argument, an
// unknown flag or command. It exits with 2 and a hint.
type usageError struct {
	msg string
	cmd string // the command whose help to point at, e.g. "mega new"
}

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError for the command of c.
func usagef(c *cli.Context, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), cmd: c.Command.HelpName}
}

// checkArgs turns an error about the command line (a bad name, field or
// module path) into a usage error of c's command; other errors pass.
func checkArgs(c *cli.Context, err error) error {
	if errors.Is(err, generator.ErrInvalid) {
		return usagef(c, "%s", err)
	}
	return err
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "mega"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return &usageError{msg: err.Error(), cmd: name}
}

// setUsageHandlers makes flag errors of every command usage errors.
func setUsageHandlers(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		setUsageHandlers(c.Subcommands)
	}
}

// unknownCommand is the action of a command that only groups others: run
// without a known subcommand, it is a usage error.
func unknownCommand(c *cli.Context) error {
	if c.Args().Present() {
		return usagef(c, "unknown command %q", c.Args().First())
	}
	_ = cli.ShowSubcommandHelp(c)
	return usagef(c, "missing command")
}

// report prints err and returns the exit code for it.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ue):
		cmd := ue.cmd
		if cmd == "" {
			cmd = "mega"
		}
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", cmd, ue.msg, cmd)
		return exitUsage
	case errors.As(err, &ec):
		if msg := strings.TrimSpace(err.Error()); msg != "" {
			fmt.Fprintf(stderr, "mega: %s\n", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(stderr, "mega: %s\n", err)
	return exitFailure
}

// interspersed moves the flags of the command args name in front of its
// arguments, so "mega new app --module m" parses like
// "mega new --module m app" (urfave/cli stops at the first argument).
// Everything after "--" stays an argument.
func interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	out := []string{args[0]}
	rest := args[1:]
	cmds := app.Commands
	var cmd *cli.Command
	// The command path: leading words that name (sub)commands.
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		next := findCommand(cmds, rest[0])
		if next == nil {
			break
		}
		cmd = next
		cmds = cmd.Subcommands
		out = append(out, rest[0])
		rest = rest[1:]
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		return append(out, rest...), nil
	}
	var flags, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(a, "=") || !takesValue(cmd, name) {
				continue
			}
			if i+1 == len(rest) {
				cmdName := strings.Join(append([]string{"mega"}, out[1:]...), " ")
				return nil, &usageError{msg: "flag needs an argument: -" + name, cmd: cmdName}
			}
			i++
			flags = append(flags, rest[i])
		default:
			positional = append(positional, a)
		}
	}
	out = append(out, flags...)
	return append(out, positional...), nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether cmd's flag name needs a value.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				v, ok := f.(cli.DocGenerationFlag)
				return ok && v.TakesValue()
			}
		}
	}
	return false
}
