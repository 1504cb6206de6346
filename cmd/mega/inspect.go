package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/inspect"
)

// defaultNATSURL is where mega inspect looks without --nats or NATS_URL.
const defaultNATSURL = "nats://127.0.0.1:4222"

// minConnectTimeout is the least time mega inspect gives the connection to
// NATS, whatever --timeout says.
const minConnectTimeout = 2 * time.Second

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show the live instances, their namespaces and cluster counters, over NATS",
		UsageText: "mega inspect [--nats URL] [--prefix PREFIX] [--timeout 1s] [--json]",
		Description: "Asks every running instance over the NATS they share (no HTTP access needed) and\n" +
			"prints the instances (id, apps, listen address, uptime, connections), each app's\n" +
			"namespaces with their cluster-wide member count and connections, and the cluster\n" +
			"counters. Waits at most --timeout and returns as soon as every instance known to the\n" +
			"others answered; one that did not is listed as missing (exit 0, with a warning).\n" +
			"Exits 1 when NATS is unreachable or no instance answered.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nats", Usage: "the NATS `URL` the instances use, comma-separated for several servers (default: $NATS_URL, then " + defaultNATSURL + ")"},
			&cli.StringFlag{Name: "prefix", Value: cluster.DefaultSubjectPrefix, Usage: "the instances' subject `PREFIX` (wsCluster.subjectPrefix)"},
			&cli.DurationFlag{Name: "timeout", Value: inspect.DefaultTimeout, Usage: "how long to wait for the answers (`DURATION`: 500ms, 2s, …)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of tables"},
		},
		Action: runInspect,
	}
}

func runInspect(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q", c.Args().First())
	}
	prefix := c.String("prefix")
	if !config.ValidSubjectPrefix(prefix) {
		return usagef(c, "--prefix %q: must be NATS subject tokens joined by dots (no spaces, * or >), like wsCluster.subjectPrefix", prefix)
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return usagef(c, "--timeout must be positive, got %s", timeout)
	}
	natsURL, from := c.String("nats"), "--nats"
	if !c.IsSet("nats") {
		if env := strings.TrimSpace(os.Getenv("NATS_URL")); env != "" {
			natsURL, from = env, "$NATS_URL"
		} else {
			natsURL, from = defaultNATSURL, "the default"
		}
	}
	shown := redactURLs(natsURL)
	if strings.EqualFold(strings.TrimSpace(natsURL), "embedded") {
		return usagef(c, "--nats embedded: an embedded NATS runs inside the instance; pass its URL, which it logs at boot: \"bus connected: embedded nats-server at nats://127.0.0.1:PORT\"")
	}

	nc, err := nats.Connect(natsURL,
		nats.Name("mega inspect"),
		nats.Timeout(max(timeout, minConnectTimeout)),
		nats.NoReconnect(),
	)
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s (%s): %w\n"+
			"Pass the NATS your instances use (services.buses.<bus>.url in mega.yaml) with --nats URL or NATS_URL.\n"+
			"An instance with url: embedded logs its URL at boot: \"bus connected: embedded nats-server at nats://127.0.0.1:PORT\".",
			shown, from, err)
	}
	defer nc.Close()

	res, err := inspect.Query(c.Context, nc, inspect.Options{Prefix: prefix, Timeout: timeout})
	if errors.Is(err, inspect.ErrNoInstances) {
		return fmt.Errorf("%w on %s at NATS %s: no mega instance uses the subject prefix %q there (or none is running).\n"+
			"Pass --prefix with the instances' wsCluster.subjectPrefix, or --nats with the NATS they use.",
			inspect.ErrNoInstances, inspect.Subject(prefix), shown, prefix)
	}
	if err != nil {
		return fmt.Errorf("inspect over NATS at %s: %w", shown, err)
	}
	res.Server = redactURLs(res.Server)

	if c.Bool("json") {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("inspect: encode JSON: %w", err)
		}
		if _, err := fmt.Fprintf(c.App.Writer, "%s\n", b); err != nil {
			return fmt.Errorf("inspect: write: %w", err)
		}
	} else if err := printInspect(c.App.Writer, res); err != nil {
		return fmt.Errorf("inspect: write: %w", err)
	}
	warnInspect(c.App.ErrWriter, res, timeout)
	return nil
}

// printInspect writes res as a summary line and three aligned tables:
// instances, namespaces and cluster counters.
func printInspect(w io.Writer, res *inspect.Result) error {
	summary := fmt.Sprintf("%s on %s, prefix %s", plural(len(res.Instances), "instance"), res.Server, res.Prefix)
	if n := len(res.Missing); n > 0 {
		summary += fmt.Sprintf(", %d missing", n)
	}
	fmt.Fprintf(w, "%s\n\n", summary)

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPPS\tLISTEN\tUPTIME\tCONNECTIONS\tPEERS\tSTATUS")
	rows := make(map[string]string, len(res.Instances)+len(res.Missing))
	ids := make([]string, 0, len(rows))
	for _, r := range res.Instances {
		apps := make([]string, len(r.Apps))
		for k, a := range r.Apps {
			apps[k] = a.Name
		}
		rows[r.ID] = fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\tok", r.ID, orDash(strings.Join(apps, ",")), orDash(r.Listen),
			uptime(r.UptimeSeconds), r.Connections, len(r.Peers))
		ids = append(ids, r.ID)
	}
	for _, m := range res.Missing {
		rows[m.ID] = fmt.Sprintf("%s\t-\t-\t-\t-\t-\tmissing: %s", m.ID, m.Reason)
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintln(tw, rows[id])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	differ := false
	fmt.Fprintln(tw, "APP\tNAMESPACE\tMEMBERS\tCONNECTIONS")
	for _, n := range res.Namespaces {
		members := strconv.Itoa(n.Members)
		if n.MembersMin != n.Members {
			members = fmt.Sprintf("%d..%d", n.MembersMin, n.Members)
			differ = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", n.App, n.Namespace, members, n.Connections)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if differ {
		fmt.Fprintln(w, "(MIN..MAX: the instances' views differ while the roster converges, or until the peers drop a missing instance's members)")
	}

	fmt.Fprintln(w)
	fmt.Fprintln(tw, "INSTANCE\tAPP\tROSTER\tPEERS\tPUBLISHED B/D/R\tRECEIVED B/D/R\tDROPPED")
	for _, r := range res.Instances {
		for _, a := range r.Apps {
			cl := a.Cluster
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\n", r.ID, a.Name, orDash(cl.Roster), len(cl.Peers),
				kinds(cl.Published), kinds(cl.Received), cl.Dropped)
		}
	}
	return tw.Flush()
}

// warnInspect tells on stderr what the tables cannot: instances that did
// not answer, replies that could not be read.
func warnInspect(w io.Writer, res *inspect.Result, timeout time.Duration) {
	if n := len(res.Missing); n > 0 {
		var ttl float64
		for _, r := range res.Instances {
			for _, a := range r.Apps {
				ttl = max(ttl, a.Cluster.TTLSeconds)
			}
		}
		fmt.Fprintf(w, "mega: warning: %s did not answer within %s:\n", plural(n, "instance"), timeout)
		for _, m := range res.Missing {
			fmt.Fprintf(w, "  %s (a peer of %s)\n", m.ID, strings.Join(m.ListedBy, ", "))
		}
		after := "the roster TTL"
		if ttl > 0 {
			after += " (" + (time.Duration(ttl * float64(time.Second))).String() + ")"
		}
		fmt.Fprintf(w, "It may have crashed or lost NATS; its peers drop it after %s. Or it is slow: retry with a longer --timeout.\n", after)
	}
	for _, s := range res.Invalid {
		fmt.Fprintf(w, "mega: warning: ignored %s\n", s)
	}
}

func kinds(k inspect.Kinds) string {
	return fmt.Sprintf("%d/%d/%d", k.Broadcast, k.Direct, k.Roster)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// uptime formats seconds like kubectl's AGE: 42s, 5m3s, 2h3m, 3d4h.
func uptime(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// redactURLs replaces the passwords in a comma-separated list of URLs.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for k, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				p = u.Redacted()
			}
		}
		parts[k] = p
	}
	return strings.Join(parts, ",")
}
