package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/framework/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with mega.yaml",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "validate a config file and the apps it names",
			Description: "Loads the file as a mega process would (expanding ${VAR} from the environment),\n" +
				"then checks that every app in apps and appConfig is a directory under apps/ next\n" +
				"to the file. Prints ok, or every problem with its key path; exits 1 on problems.",
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
	cfg, err := config.Load(path)
	if err == nil {
		dir := filepath.Join(filepath.Dir(path), "apps")
		var apps []string
		apps, err = appDirs(dir)
		if err == nil {
			err = cfg.CheckApps(apps)
			if err != nil {
				err = fmt.Errorf("%w\n(the apps are the directories under %s)", err, dir)
			}
		}
	}
	if err != nil {
		if errors.Is(err, config.ErrInvalid) {
			// One header line, then one indented line per problem.
			lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
			if strings.HasSuffix(lines[0], ":") {
				fmt.Fprintln(c.App.ErrWriter, lines[0])
				lines = lines[1:]
			} else {
				fmt.Fprintf(c.App.ErrWriter, "%s is invalid:\n", path)
			}
			for _, line := range lines {
				fmt.Fprintf(c.App.ErrWriter, "  %s\n", line)
			}
			return cli.Exit("", exitFailure)
		}
		return err
	}
	fmt.Fprintln(c.App.Writer, "ok")
	return nil
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
