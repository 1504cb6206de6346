package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid matches, with errors.Is, every error that reports a problem in
// the configuration itself (as opposed to a file that cannot be read).
var ErrInvalid = errors.New("config: invalid configuration")

// FieldError is one problem in a config file.
type FieldError struct {
	// Path is the key path of the value, e.g. "wsCluster.roster.ttl" or
	// "apps[1]". It is empty for problems with the file as a whole.
	Path string
	// Message says what is wrong and what was expected.
	Message string
	// Line is the line in the file the problem is on, or 0 when unknown.
	Line int
}

// Error returns "path: message (line N)".
func (e FieldError) Error() string {
	s := e.Message
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

// Errors is every problem found in a config, sorted by path, then message.
type Errors []FieldError

// Error returns one line per problem.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e.sorted() {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid, so that errors.Is(err,
// ErrInvalid) holds for every Errors value.
func (e Errors) Is(target error) bool { return target == ErrInvalid }

// sorted returns a sorted copy of e.
func (e Errors) sorted() Errors {
	s := slices.Clone(e)
	slices.SortStableFunc(s, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Message, b.Message), cmp.Compare(a.Line, b.Line))
	})
	return s
}

// err returns e sorted as an error, or nil when there are no problems.
func (e Errors) err() error {
	if len(e) == 0 {
		return nil
	}
	return e.sorted()
}

// CheckApps reports apps that the process does not know: every name in Apps
// and every key of AppConfig must be one of registered (the apps compiled
// into the binary), and every AppConfig key must be listed in Apps. The boot
// runs it after Load, because only the boot knows the registry. The error is
// an Errors value matching ErrInvalid, or nil.
func (c *Config) CheckApps(registered []string) error {
	var errs Errors
	have := strings.Join(sortedOrNone(registered), ", ")
	for i, name := range c.Apps {
		if !slices.Contains(registered, name) {
			errs = append(errs, FieldError{
				Path:    fmt.Sprintf("apps[%d]", i),
				Message: fmt.Sprintf("app %q is not registered (registered: %s)", name, have),
			})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.AppConfig)) {
		p := "appConfig." + name
		switch {
		case !slices.Contains(registered, name):
			errs = append(errs, FieldError{Path: p, Message: fmt.Sprintf("app %q is not registered (registered: %s)", name, have)})
		case !slices.Contains(c.Apps, name):
			errs = append(errs, FieldError{Path: p, Message: notInApps(name, c.Apps)})
		}
	}
	return errs.err()
}

// DatabaseUse is one place where an app opens a database by name, e.g. a
// call env.Database("main") in the app's code.
type DatabaseUse struct {
	// App is the name of the app.
	App string
	// Name is the database name, a key of services.databases.
	Name string
	// At is where the use is, e.g. "apps/main/app.go:13", or "" when
	// unknown (at run time).
	At string
}

// CheckDatabases reports every use of a database that services.databases
// does not define, once per app and database, at the key path where it is
// missing ("services.databases.main"). The boot's Env.Database runs it for
// the name an app asks for; mega config check runs it for the names it
// finds in the apps' code. The error is an Errors value matching
// ErrInvalid, or nil.
func (c *Config) CheckDatabases(uses []DatabaseUse) error {
	var errs Errors
	have := strings.Join(sortedOrNone(slices.Collect(maps.Keys(c.Services.Databases))), ", ")
	seen := map[[2]string]bool{}
	for _, u := range uses {
		if _, ok := c.Services.Databases[u.Name]; ok || seen[[2]string{u.App, u.Name}] {
			continue
		}
		seen[[2]string{u.App, u.Name}] = true
		at := ""
		if u.At != "" {
			at = " at " + u.At
		}
		if !validName(u.Name) {
			errs = append(errs, FieldError{
				Path:    "services.databases",
				Message: fmt.Sprintf("app %q opens database %q%s, which is not a valid database name (%s)", u.App, u.Name, at, nameRule),
			})
			continue
		}
		errs = append(errs, FieldError{
			Path: "services.databases." + u.Name,
			Message: fmt.Sprintf("no such database, but app %q opens it%s (have: %s); add it, e.g. %s: { driver: sqlite, dsn: %q }",
				u.App, at, have, u.Name, "file:data/"+u.Name+".db"),
		})
	}
	return errs.err()
}

func notInApps(name string, apps []string) string {
	return fmt.Sprintf("no app %q in apps (have: %s)", name, strings.Join(sortedOrNone(apps), ", "))
}

// sortedOrNone returns the sorted names, or ["none"] when there are none.
func sortedOrNone(names []string) []string {
	if len(names) == 0 {
		return []string{"none"}
	}
	return slices.Sorted(slices.Values(names))
}

// ParseSize parses a byte size: a whole number of bytes ("65536") or a whole
// number with a unit: B, KB (1000), KiB (1024), MB (1000²) or MiB (1024²).
// Units are case-insensitive and may follow a space: "64KiB", "64 kib".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	digits := strings.TrimRightFunc(s, unicode.IsLetter)
	unit := s[len(digits):]
	digits = strings.TrimSpace(digits)
	mult, ok := map[string]int64{"": 1, "b": 1, "kb": 1000, "kib": 1 << 10, "mb": 1000 * 1000, "mib": 1 << 20}[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("unknown size unit %q in %q (use B, KB, KiB, MB or MiB)", unit, s)
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a size like \"64KiB\" or a number of bytes", s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// oneOf returns a parser accepting only the given words.
func (d *decoder) oneOf(words ...string) func(string, *yaml.Node) (string, bool) {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	want := quoted[len(quoted)-1]
	if len(quoted) > 1 {
		want = strings.Join(quoted[:len(quoted)-1], ", ") + " or " + want
	}
	return func(p string, n *yaml.Node) (string, bool) {
		s, ok := d.scalar(p, n, want)
		if ok && !slices.Contains(words, s) {
			d.add(p, "must be %s, got %q", want, s)
			return "", false
		}
		return s, ok
	}
}

// duration parses a positive duration such as "10s".
func (d *decoder) duration(p string, n *yaml.Node) (time.Duration, bool) {
	const want = `a duration like "10s"`
	s, ok := d.scalar(p, n, want)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.add(p, "must be %s, got %q", want, s)
		return 0, false
	}
	if v <= 0 {
		d.add(p, "must be a positive duration")
		return 0, false
	}
	return v, true
}

// durationOrZero parses a duration that may be 0 (off).
func (d *decoder) durationOrZero(p string, n *yaml.Node) (time.Duration, bool) {
	const want = `a duration like "5s" (0 for none)`
	s, ok := d.scalar(p, n, want)
	if !ok {
		return 0, false
	}
	if s == "0" {
		return 0, true
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.add(p, "must be %s, got %q", want, s)
		return 0, false
	case v < 0:
		d.add(p, "must not be negative, got %s", s)
		return 0, false
	}
	return v, true
}

// size returns a parser of byte sizes above 0 and at most max, a whole
// number of MiB (0: no maximum).
func (d *decoder) size(max int64) func(string, *yaml.Node) (int64, bool) {
	return func(p string, n *yaml.Node) (int64, bool) {
		const want = `a size like "64KiB" or a number of bytes`
		s, ok := d.scalar(p, n, want)
		if !ok {
			return 0, false
		}
		v, err := ParseSize(s)
		switch {
		case err != nil:
			d.add(p, "must be %s, got %q", want, s)
		case v <= 0:
			d.add(p, "must be more than 0 bytes")
		case max > 0 && v > max:
			d.add(p, "must be at most %dMiB, got %q", max>>20, s)
		default:
			return v, true
		}
		return 0, false
	}
}

// atLeast returns a parser of whole numbers no smaller than min.
func (d *decoder) atLeast(min int) func(string, *yaml.Node) (int, bool) {
	return func(p string, n *yaml.Node) (int, bool) {
		const want = "a whole number"
		s, ok := d.scalar(p, n, want)
		if !ok {
			return 0, false
		}
		v, err := strconv.Atoi(s)
		switch {
		case err != nil:
			d.add(p, "must be %s, got %q", want, s)
		case v < min:
			d.add(p, "must be at least %d, got %d", min, v)
		default:
			return v, true
		}
		return 0, false
	}
}

// between returns a parser of whole numbers from min to max.
func (d *decoder) between(min, max int) func(string, *yaml.Node) (int, bool) {
	least := d.atLeast(min)
	return func(p string, n *yaml.Node) (int, bool) {
		v, ok := least(p, n)
		if ok && v > max {
			d.add(p, "must be at most %d, got %d", max, v)
			return 0, false
		}
		return v, ok
	}
}

// required reports each key of keys that is missing from set, the keys a
// mapping at p had, with the hint keys[key].
func (d *decoder) required(p string, set map[string]bool, keys map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !set[k] {
			d.add(join(p, k), "is required; %s", keys[k])
		}
	}
}

// root decodes the whole file into c.
func (d *decoder) root(c *Config, n *yaml.Node) {
	if n = resolve(n); isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errs = append(d.errs, FieldError{
			Message: "the file must be a mapping of settings (server:, apps:, ...), got " + describe(n),
			Line:    n.Line,
		})
		return
	}
	var logger LoggerOverride
	var ws Limits
	var drainSet bool
	d.mapping("", n, map[string]field{
		"server": func(p string, v *yaml.Node) {
			d.mapping(p, v, map[string]field{
				"addr":            into(&c.Server.Addr, d.addr),
				"shutdownTimeout": into(&c.Server.ShutdownTimeout, d.duration),
				"drainDelay": func(p string, v *yaml.Node) {
					drainSet = true
					into(&c.Server.DrainDelay, d.durationOrZero)(p, v)
				},
				"reconnectWindow": into(&c.Server.ReconnectWindow, d.duration),
				"trustedProxies":  func(p string, v *yaml.Node) { c.Server.TrustedProxies = d.prefixes(p, v) },
			})
			d.later = append(d.later, func() {
				// The default drain fits any shutdownTimeout: it is capped to
				// half of it at run time. One that was asked for must fit.
				if drainSet && c.Server.DrainDelay >= c.Server.ShutdownTimeout {
					d.add("server.drainDelay", "must be shorter than shutdownTimeout (%s), which bounds the drain and the close; got %s",
						c.Server.ShutdownTimeout, c.Server.DrainDelay)
				}
			})
		},
		"metrics":   func(p string, v *yaml.Node) { d.metrics(c, p, v) },
		"logger":    func(p string, v *yaml.Node) { logger = d.logger(p, v) },
		"apps":      func(p string, v *yaml.Node) { d.apps(c, p, v) },
		"services":  func(p string, v *yaml.Node) { d.services(c, p, v) },
		"websocket": func(p string, v *yaml.Node) { ws = d.limits(p, v) },
		"wsCluster": func(p string, v *yaml.Node) { c.WSCluster = d.wsCluster(c, p, v) },
		"appConfig": func(p string, v *yaml.Node) {
			d.pairs(p, v, "a mapping of app names to settings", func(ap string, k, v *yaml.Node) {
				c.AppConfig[k.Value] = d.appOverride(ap, v)
				d.later = append(d.later, func() {
					if !slices.Contains(c.Apps, k.Value) {
						d.add(ap, "%s", notInApps(k.Value, c.Apps))
					}
				})
			})
		},
	})
	c.Logger = c.Logger.With(logger)
	c.WebSocket = c.WebSocket.With(ws)
	d.later = append(d.later, func() {
		d.pingPong("websocket", c.WebSocket, ws)
		for _, name := range slices.Sorted(maps.Keys(c.AppConfig)) {
			d.pingPong("appConfig."+name+".websocket", c.App(name).WebSocket, c.AppConfig[name].WebSocket)
			for _, ns := range slices.Sorted(maps.Keys(c.AppConfig[name].Channels)) {
				h := c.AppConfig[name].Channels[ns].History
				if h != nil && (h.Enabled == nil || *h.Enabled) && c.WSCluster == nil {
					d.add("appConfig."+name+".channels."+ns+".history", "needs a wsCluster section: history is kept in NATS JetStream on the wsCluster's bus")
				}
			}
		}
	})
}

// pingPong reports a pongTimeout that is not shorter than pingInterval in
// the effective settings w of a websocket section at p. Only sections that
// set one of the two are blamed.
func (d *decoder) pingPong(p string, w, o Limits) {
	if w.PongTimeout < w.PingInterval {
		return
	}
	switch {
	case o.PongTimeout != 0:
		d.add(p+".pongTimeout", "must be shorter than pingInterval (%s), got %s", w.PingInterval, w.PongTimeout)
	case o.PingInterval != 0:
		d.add(p+".pingInterval", "must be longer than pongTimeout (%s), got %s", w.PongTimeout, w.PingInterval)
	}
}

// addr parses a host:port listen address.
func (d *decoder) addr(p string, n *yaml.Node) (string, bool) {
	const want = `host:port like ":8080"`
	s, ok := d.scalar(p, n, want)
	if !ok {
		return "", false
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		d.add(p, "must be %s, got %q", want, s)
		return "", false
	}
	if v, err := strconv.Atoi(port); err != nil || v < 0 || v > 65535 {
		d.add(p, "port must be a number from 0 to 65535, got %q", port)
		return "", false
	}
	return s, true
}

// boolean parses true or false (any case, as YAML 1.2 writes them).
func (d *decoder) boolean(p string, n *yaml.Node) (bool, bool) {
	const want = "true or false"
	s, ok := d.scalar(p, n, want)
	if !ok {
		return false, false
	}
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	d.add(p, "must be %s, got %q", want, s)
	return false, false
}

// prefixes decodes server.trustedProxies: CIDR prefixes or bare IPs (a
// single-address prefix). The result is nil when no entry is valid.
func (d *decoder) prefixes(p string, n *yaml.Node) []netip.Prefix {
	var out []netip.Prefix
	d.list(p, n, "a list of CIDR prefixes", func(ip string, item *yaml.Node) {
		s, ok := d.scalar(ip, item, `a CIDR prefix like "10.0.0.0/8" or an IP address`)
		if !ok {
			return
		}
		if pfx, err := ParsePrefix(s); err != nil {
			d.add(ip, "%s", err)
		} else {
			out = append(out, pfx)
		}
	})
	return out
}

// ParsePrefix parses one entry of server.trustedProxies: a CIDR prefix
// ("10.0.0.0/8", "fd00::/8") or a bare IP address, which stands for that one
// address (/32 or /128). The prefix is returned masked, and an IPv4-mapped
// IPv6 address is taken as its IPv4 address. Zones ("fe80::1%eth0") are
// refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	const want = `want a CIDR prefix like "10.0.0.0/8" or an IP address like "10.0.0.1"`
	t := strings.TrimSpace(s)
	if strings.Contains(t, "%") {
		return netip.Prefix{}, fmt.Errorf("%q has a zone; %s without one", s, want)
	}
	if !strings.Contains(t, "/") {
		a, err := netip.ParseAddr(t)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix; %s", s, want)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR prefix; %s", s, want)
	}
	if a := pfx.Addr(); a.Is4In6() {
		bits := pfx.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped prefix shorter than /96; %s", s, want)
		}
		pfx = netip.PrefixFrom(a.Unmap(), bits)
	}
	return pfx.Masked(), nil
}

// metrics decodes the metrics section. A separate listener may not share
// the main listener's port.
func (d *decoder) metrics(c *Config, p string, n *yaml.Node) {
	set := d.mapping(p, n, map[string]field{
		"enabled": into(&c.Metrics.Enabled, d.boolean),
		"path": into(&c.Metrics.Path, func(p string, n *yaml.Node) (string, bool) {
			s, ok := d.scalar(p, n, `a URL path like "/metrics"`)
			switch {
			case !ok:
			case !strings.HasPrefix(s, "/"):
				d.add(p, "must start with \"/\", like \"/metrics\", got %q", s)
			case strings.ContainsAny(s, "?#") || strings.ContainsFunc(s, unicode.IsSpace):
				d.add(p, "must be a plain URL path without spaces, \"?\" or \"#\", like \"/metrics\", got %q", s)
			default:
				return s, true
			}
			return "", false
		}),
		"addr": into(&c.Metrics.Addr, func(p string, n *yaml.Node) (string, bool) {
			if s, ok := d.scalar(p, n, `host:port like ":9090", or "" for the main listener`); !ok || s == "" {
				return s, ok
			}
			return d.addr(p, n)
		}),
	})
	d.later = append(d.later, func() {
		if set["addr"] && c.Metrics.Addr != "" && samePort(c.Metrics.Addr, c.Server.Addr) {
			d.add(p+".addr", "must not be the port of server.addr (%s); leave it empty to serve metrics on the main listener", c.Server.Addr)
		}
	})
}

// samePort reports whether two valid listen addresses would bind the same
// non-zero port on an overlapping host.
func samePort(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// logger decodes a logger section (global or per app).
func (d *decoder) logger(p string, n *yaml.Node) LoggerOverride {
	var o LoggerOverride
	d.mapping(p, n, map[string]field{
		"level":     into(&o.Level, d.oneOf("debug", "info", "warn", "error")),
		"format":    into(&o.Format, d.oneOf("console", "json")),
		"accessLog": intoPtr(&o.AccessLog, d.boolean),
	})
	return o
}

// origins decodes allowedOrigins: host patterns in path.Match syntax. The
// result is never nil, so an explicit empty list overrides.
func (d *decoder) origins(p string, n *yaml.Node) []string {
	patterns := []string{}
	d.list(p, n, "a list of origin host patterns", func(ip string, item *yaml.Node) {
		s, ok := d.scalar(ip, item, "an origin host pattern")
		if !ok {
			return
		}
		if err := CheckOrigin(s); err != nil {
			d.add(ip, "%s", err)
			return
		}
		patterns = append(patterns, s)
	})
	return patterns
}

// schemePrefix matches what a URL scheme and its slashes look like at the
// start of an origin pattern ("https://", "http:/", "wss:").
var schemePrefix = regexp.MustCompile(`^([a-z][a-z0-9+.-]*):/*`)

// CheckOrigin reports an allowedOrigins pattern that can never match: the
// WebSocket handshake matches each pattern with path.Match, without regard
// to case, against the Origin header's host ("app.example.com",
// "localhost:3000"), or against "scheme://host" when the pattern contains
// "://". So a pattern must be valid path.Match syntax, and may not contain
// a path, a trailing slash or whitespace, which no host has. The error says
// what to write instead.
func CheckOrigin(pattern string) error {
	const syntax = `path.Match syntax, e.g. "*.example.com"`
	p := strings.ToLower(pattern)
	if _, err := path.Match(p, ""); p == "" || err != nil {
		return fmt.Errorf("%q is not a valid origin pattern (%s)", pattern, syntax)
	}
	if strings.ContainsFunc(p, unicode.IsSpace) {
		return fmt.Errorf("%q can never match: an origin has no whitespace; write %q", pattern, strings.Join(strings.Fields(pattern), ""))
	}
	scheme, host, hasScheme := strings.Cut(pattern, "://")
	if !hasScheme {
		scheme, host = "", pattern
		// "https:/app.example.com" or "https:app.example.com": a scheme
		// with slashes missing. "localhost:3000" is a host and a port.
		if m := schemePrefix.FindStringSubmatch(p); m != nil && (strings.Contains(m[0], "/") || !portPattern(p[len(m[0]):])) {
			scheme, host = pattern[:len(m[1])], pattern[len(m[0]):]
		}
	}
	hostOnly, _, hasPath := strings.Cut(host, "/")
	const shape = `an origin is matched as "host" or "scheme://host", without a path or trailing slash`
	switch {
	case hasScheme && (scheme == "" || host == ""):
		return fmt.Errorf("%q can never match: write a host pattern like %q, or \"scheme://host\" like %q", pattern, "app.example.com", "https://app.example.com")
	case !hasPath && hasScheme == (scheme != ""):
		return nil
	case hostOnly == "":
		return fmt.Errorf("%q can never match: %s; write a host pattern like %q", pattern, shape, "app.example.com")
	case scheme == "":
		return fmt.Errorf("%q can never match: %s; write %q", pattern, shape, hostOnly)
	}
	return fmt.Errorf("%q can never match: %s; write %q (any scheme) or %q (%s only)",
		pattern, shape, hostOnly, scheme+"://"+hostOnly, scheme)
}

// portPattern reports whether s can be the port of a host pattern: digits
// and path.Match wildcards only.
func portPattern(s string) bool {
	return s != "" && strings.Trim(s, `0123456789*?[]^-\`) == ""
}

// validName reports whether s is a valid app, bus or database name.
func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.TrimLeft(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

const nameRule = `use lowercase letters, digits, "-" and "_", starting with a letter`

// apps decodes the list of served apps.
func (d *decoder) apps(c *Config, p string, n *yaml.Node) {
	apps := []string{}
	empty := true
	ok := d.list(p, n, "a list of app names", func(ip string, item *yaml.Node) {
		empty = false
		s, ok := d.scalar(ip, item, "an app name")
		switch {
		case !ok:
		case !validName(s):
			d.add(ip, "%q is not a valid app name (%s)", s, nameRule)
		case slices.Contains(apps, s):
			d.add(ip, "app %q is listed twice", s)
		default:
			apps = append(apps, s)
		}
	})
	if ok && empty {
		d.add(p, "must list at least one app")
	}
	if ok {
		c.Apps = apps
	}
}

// services decodes the named buses and databases.
func (d *decoder) services(c *Config, p string, n *yaml.Node) {
	named := func(p string, v *yaml.Node, kind string, each func(name, p string, v *yaml.Node)) {
		d.pairs(p, v, "a mapping of "+kind+" names to "+kind+"es", func(np string, k, v *yaml.Node) {
			if !validName(k.Value) {
				d.add(np, "%q is not a valid %s name (%s)", k.Value, kind, nameRule)
			}
			each(k.Value, np, v)
		})
	}
	d.mapping(p, n, map[string]field{
		"buses": func(p string, v *yaml.Node) {
			named(p, v, "bus", func(name, bp string, v *yaml.Node) {
				c.Services.Buses[name] = d.bus(bp, v)
			})
		},
		"databases": func(p string, v *yaml.Node) {
			named(p, v, "database", func(name, dp string, v *yaml.Node) {
				var db Database
				set := d.mapping(dp, v, map[string]field{
					"driver": into(&db.Driver, d.oneOf("sqlite")),
					"dsn": into(&db.DSN, func(p string, n *yaml.Node) (string, bool) {
						s, ok := d.scalar(p, n, "a data source name")
						if ok && s == "" {
							d.add(p, `must not be empty (e.g. "file:data/app.db")`)
							return "", false
						}
						return s, ok
					}),
				})
				d.required(dp, set, map[string]string{
					"driver": `use "sqlite"`,
					"dsn":    `e.g. "file:data/app.db"`,
				})
				c.Services.Databases[name] = db
			})
		},
	})
}

// busURL parses "embedded" or comma-separated NATS server URLs.
func (d *decoder) busURL(p string, n *yaml.Node) (string, bool) {
	const want = `"embedded" or comma-separated nats://, tls://, ws:// or wss:// URLs`
	s, ok := d.scalar(p, n, want)
	if !ok || s == "embedded" {
		return s, ok
	}
	if strings.TrimSpace(s) == "" {
		d.add(p, "must be %s, got %q", want, s)
		return "", false
	}
	good := true
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		switch {
		case part == "":
			d.add(p, "has an empty entry; remove the extra comma")
		case err != nil:
			d.add(p, "%q is not a URL; want %s", part, want)
		case !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) || u.Hostname() == "":
			d.add(p, "%q is not a NATS server URL; want %s", u.Redacted(), want)
		default:
			continue
		}
		good = false
	}
	return s, good
}

// wsCluster decodes the cluster section. The bus reference is checked once
// the whole file is read, since services may come later.
func (d *decoder) wsCluster(c *Config, p string, n *yaml.Node) *WSCluster {
	w := defaultWSCluster()
	set := d.mapping(p, n, map[string]field{
		"bus": into(&w.Bus, func(p string, n *yaml.Node) (string, bool) {
			s, ok := d.scalar(p, n, "a bus name")
			if ok && s == "" {
				d.add(p, "must name a bus from services.buses")
				return "", false
			}
			return s, ok
		}),
		"subjectPrefix": into(&w.SubjectPrefix, d.subjectPrefix),
		"roster": func(p string, v *yaml.Node) {
			d.mapping(p, v, map[string]field{
				"driver": into(&w.Roster.Driver, d.oneOf(RosterNATS, RosterNone)),
				"ttl": into(&w.Roster.TTL, func(p string, n *yaml.Node) (time.Duration, bool) {
					v, ok := d.duration(p, n)
					if ok && v < time.Second {
						d.add(p, "must be at least 1s, got %s", v)
						return 0, false
					}
					return v, ok
				}),
			})
		},
	})
	d.later = append(d.later, func() {
		have := strings.Join(sortedOrNone(slices.Collect(maps.Keys(c.Services.Buses))), ", ")
		if !set["bus"] {
			d.add(p+".bus", "is required; name a bus from services.buses (have: %s)", have)
		} else if _, ok := c.Services.Buses[w.Bus]; w.Bus != "" && !ok {
			d.add(p+".bus", "no bus %q in services.buses (have: %s)", w.Bus, have)
		}
	})
	return w
}

// subjectPrefix parses a NATS subject prefix: dot-separated, non-empty
// tokens without whitespace or wildcards.
func (d *decoder) subjectPrefix(p string, n *yaml.Node) (string, bool) {
	s, ok := d.scalar(p, n, "a NATS subject prefix")
	if !ok {
		return "", false
	}
	if !ValidSubjectPrefix(s) {
		d.add(p, "%q is not a valid NATS subject prefix", s)
		return "", false
	}
	return s, true
}

// ValidSubjectPrefix reports whether p is a valid wsCluster.subjectPrefix:
// one or more NATS subject tokens joined by dots, without wildcards (* and
// >), whitespace or control characters. The cluster, `mega inspect` and
// this validator all apply this one rule.
func ValidSubjectPrefix(p string) bool {
	if p == "" {
		return false
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") || strings.ContainsFunc(tok, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r)
		}) {
			return false
		}
	}
	return true
}

// appOverride decodes one appConfig entry. Global-only sections are
// reported with a hint to move them.
func (d *decoder) appOverride(p string, n *yaml.Node) AppOverride {
	var o AppOverride
	d.pairs(p, n, "a mapping with logger: and websocket:", func(kp string, k, v *yaml.Node) {
		switch k.Value {
		case "logger":
			o.Logger = d.logger(kp, v)
		case "websocket":
			o.WebSocket = d.limits(kp, v)
		case "channels":
			o.Channels = d.channels(kp, v)
		case "server", "apps", "services", "wsCluster", "metrics", "appConfig":
			d.add(kp, "%s is global-only; move it to the top level of mega.yaml", k.Value)
		default:
			d.unknownKey(kp, k.Value, []string{"logger", "websocket", "channels"})
		}
	})
	return o
}

// channels decodes appConfig.<app>.channels: namespaces to channel settings.
func (d *decoder) channels(p string, n *yaml.Node) map[string]ChannelOverride {
	out := map[string]ChannelOverride{}
	d.pairs(p, n, `a mapping of namespaces to settings, like "/ws/chat": { history: { size: 100 } }`, func(kp string, k, v *yaml.Node) {
		if !strings.HasPrefix(k.Value, "/") {
			d.add(kp, "is not a namespace: a channel's namespace is its WebSocket path, starting with /")
			return
		}
		var c ChannelOverride
		d.mapping(kp, v, map[string]field{
			"history": func(p string, v *yaml.Node) { c.History = d.history(p, v) },
		})
		out[k.Value] = c
	})
	return out
}

// history decodes a channel's history section.
func (d *decoder) history(p string, n *yaml.Node) *HistoryOverride {
	h := &HistoryOverride{}
	d.mapping(p, n, map[string]field{
		"enabled":  intoPtr(&h.Enabled, d.boolean),
		"size":     intoPtr(&h.Size, d.atLeast(1)),
		"ttl":      intoPtr(&h.TTL, d.duration),
		"maxBytes": intoPtr(&h.MaxBytes, d.size(0)),
		"replicas": intoPtr(&h.Replicas, d.between(1, 5)),
	})
	return h
}
