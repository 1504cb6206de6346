package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/generator"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Aliases:   []string{"g"},
		Usage:     "add a WebSocket channel, a REST resource or accounts (auth), with tests, to an app",
		UsageText: "mega generate channel NAME\nmega generate resource NAME field:type...\nmega generate auth",
		Description: "Run inside an app made by mega new (or pass --dir). Each generator writes its\n" +
			"files and their tests, adds support files the app lacks, and registers the new\n" +
			"code once, above the \"" + generator.Marker + "\" line of apps/main/app.go. Running it twice\n" +
			"changes nothing; existing files with other content are refused unless --force.",
		Subcommands: []*cli.Command{channelCommand(), resourceCommand(), authCommand()},
		Action:      unknownCommand,
	}
}

// generateFlags are the flags every generator takes.
func generateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dir", Usage: "the app's root `DIR`, where its go.mod is (default: the nearest go.mod at or above the working directory)"},
		&cli.StringFlag{Name: "app", Value: "main", Usage: "the app `NAME` under apps/ to add to"},
		&cli.BoolFlag{Name: "force", DisableDefaultText: true, Usage: "overwrite the files this generator writes when they exist"},
		&cli.BoolFlag{Name: "dry-run", DisableDefaultText: true, Usage: "print the files that would be written or changed; write nothing"},
	}
}

func channelCommand() *cli.Command {
	return &cli.Command{
		Name:      "channel",
		Usage:     "add a WebSocket channel at /ws/NAME",
		ArgsUsage: "NAME",
		Description: "Writes apps/main/NAME_channel.go (a channel that joins presence and broadcasts\n" +
			"NAME.send as NAME.message) and NAME_channel_test.go, and mounts it at /ws/NAME with\n" +
			"the ?name= identity and presence events. NAME is snake case: lowercase letters and\n" +
			"digits, words joined by single underscores.\n\n" +
			"Example:\n\n" +
			"   mega generate channel notifications",
		Flags:  generateFlags(),
		Action: runChannel,
	}
}

func resourceCommand() *cli.Command {
	return &cli.Command{
		Name:      "resource",
		Usage:     "add a REST resource at /api/NAME, stored in SQLite",
		ArgsUsage: "NAME field:type...",
		Description: "Writes apps/main/NAME.go (the type, the table, created at start, and the handlers\n" +
			"for GET/POST /api/NAME and GET/PUT/DELETE /api/NAME/{id}) and NAME_test.go, and\n" +
			"mounts it. NAME is a snake-case plural; its singular names the Go type (posts →\n" +
			"Post; --singular to choose). Every resource has id, createdAt and updatedAt.\n\n" +
			"The API is live: after a change succeeded, every connection of the --live\n" +
			"namespace (default " + generator.DefaultLive + ", the chat channel of every new app), on every\n" +
			"instance, gets one event; for posts: posts.created {\"post\": ...}, posts.updated\n" +
			"{\"post\": ...} or posts.deleted {\"id\": ...}. --no-live sends none.\n\n" +
			"Field types:\n\n" +
			"   string   required text, at most 255 characters\n" +
			"   text     optional text, at most 65535 characters\n" +
			"   int      optional whole number (0 when absent)\n" +
			"   bool     optional true or false (false when absent)\n" +
			"   time     required time in RFC 3339, e.g. 2026-01-02T15:04:05Z\n\n" +
			"Example:\n\n" +
			"   mega generate resource posts title:string body:text views:int published_at:time",
		Flags: append(generateFlags(),
			&cli.StringFlag{Name: "singular", Usage: "the singular `WORD` of NAME, which names the Go type (default: guessed, e.g. categories → category)"},
			&cli.StringFlag{Name: "live", Value: generator.DefaultLive, Usage: "the `NAMESPACE` (a channel the app mounts) told of every change; \"\" for none"},
			&cli.BoolFlag{Name: "no-live", DisableDefaultText: true, Usage: "send no events on changes (same as --live \"\")"},
		),
		Action: runResource,
	}
}

func authCommand() *cli.Command {
	return &cli.Command{
		Name:  "auth",
		Usage: "add accounts, login sessions, tokens and private rooms; ?name= stops being an identity",
		Description: "Writes apps/main/authn.go, users.go, sessions.go, tokens.go, sockets.go,\n" +
			"login_limit.go, private_rooms.go, their tests and static/auth.js (a login and\n" +
			"register form), and edits the app. app.go gets mountAuth and one line,\n" +
			"  app.Use(auth.secureHeaders, auth.crossOrigin, auth.loadUser, auth.requireUser)\n" +
			"which covers the whole app, resources and channels added later included: security\n" +
			"headers, CSRF (403 for a change from another origin), the session cookie or bearer\n" +
			"token as the request's user, and 401 for a change under /api/ or a WebSocket\n" +
			"upgrade without one (?name= is replaced by the logged-in name). Every channel is\n" +
			"wrapped in auth.track (logout closes the session's sockets) and its hook in\n" +
			"auth.channel (a token's expiry closes the socket; token.refresh), and the chat's\n" +
			"rooms are private to their members when they have any. The app's earlier tests\n" +
			"log in through legacy_login_test.go. Then runs go mod tidy (golang.org/x/crypto\n" +
			"for argon2id, " + generator.JWTModule + " for tokens). Run it again after\n" +
			"adding a channel to wire it the same way.\n\n" +
			"Routes: POST /api/users, POST|GET|DELETE /api/session, POST /api/tokens,\n" +
			"PUT /api/rooms/{id}/members. Environment: AUTH_SECRET (the token key, 32+ bytes;\n" +
			"unset: a key kept in the database, for development), AUTH_TOKEN_TTL (15m),\n" +
			"AUTH_SESSION_TTL (336h), AUTH_SESSION_CHECK (30s: how often each instance closes\n" +
			"the sockets of sessions that ended elsewhere), AUTH_TRUSTED_ORIGINS,\n" +
			"CONTENT_SECURITY_POLICY. See docs/auth.md.",
		Flags:  generateFlags(),
		Action: runAuth,
	}
}

func runAuth(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "mega generate auth takes no arguments, got %q", c.Args().Slice())
	}
	plan, err := generator.Auth(generator.AuthOptions{
		Dir:   c.String("dir"),
		App:   c.String("app"),
		Force: c.Bool("force"),
	})
	if err != nil {
		return checkArgs(c, err)
	}
	if err := writePlan(c, plan); err != nil {
		return err
	}
	if c.Bool("dry-run") || len(plan.Written()) == 0 {
		return nil
	}
	// The new files import golang.org/x/crypto and the JWT library.
	return generator.Tidy(c.Context, plan.Root, c.App.Writer)
}

func runChannel(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return usagef(c, "missing NAME, e.g. mega generate channel notifications")
	case c.NArg() > 1:
		return usagef(c, "want one NAME, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}
	plan, err := generator.Channel(generator.ChannelOptions{
		Dir:   c.String("dir"),
		App:   c.String("app"),
		Name:  c.Args().First(),
		Force: c.Bool("force"),
	})
	if err != nil {
		return checkArgs(c, err)
	}
	return writePlan(c, plan)
}

func runResource(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef(c, "missing NAME and fields, e.g. mega generate resource posts title:string body:text")
	}
	name := c.Args().First()
	if err := generator.CheckName("resource", name); err != nil {
		return checkArgs(c, err)
	}
	fields, err := generator.ParseFields(c.Args().Tail())
	if err != nil {
		return checkArgs(c, err)
	}
	live := c.String("live")
	if c.Bool("no-live") {
		if c.IsSet("live") && live != "" {
			return usagef(c, "--live %s and --no-live contradict each other; pass one", live)
		}
		live = ""
	}
	plan, err := generator.Resource(generator.ResourceOptions{
		Dir:      c.String("dir"),
		App:      c.String("app"),
		Name:     name,
		Singular: c.String("singular"),
		Fields:   fields,
		Live:     live,
		Force:    c.Bool("force"),
	})
	if err != nil {
		return checkArgs(c, err)
	}
	return writePlan(c, plan)
}

// writePlan writes plan with progress lines, or only prints it with --dry-run.
func writePlan(c *cli.Context, plan *generator.Plan) error {
	out := c.App.Writer
	dry := c.Bool("dry-run")
	if err := plan.Write(out, dry); err != nil {
		return err
	}
	switch {
	case dry:
		fmt.Fprintln(out, "\nDry run: nothing was written.")
	case len(plan.Written()) == 0:
		fmt.Fprintln(out, "\nNothing to do: the app already has all of it.")
	default:
		fmt.Fprintln(out, "\nDone. Run the new tests with: go test ./...")
	}
	return nil
}
