package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits bound what one WebSocket connection may cost. It is the one
// declaration of the connection limits: mega.Limits is this type, and each
// field's tags give its key in mega.yaml's websocket sections, its default
// and the values it takes. DefaultLimits, the parsing and checking of those
// sections, the merge of global, app and channel limits (With) and the
// websocket table of docs/config.md all come from the tags.
//
// Zero means "not set", in Go and in mega.yaml alike: a zero field takes
// the default, or the value of the level above (global, then app, then
// channel); in mega.yaml a key left out does the same, and an explicit 0 is
// an error. Only the two connection caps can be turned off, with Unlimited
// (-1).
//
// A field's limit tag is "KIND" or "KIND,default=VALUE,max=SIZE": KIND is
// size (bytes, written "64KiB" or 65536), duration ("25s"), count (a whole
// number, at least 1), cap (a count, or -1 for unlimited) or origins (a
// list of patterns); VALUE is the default written as in mega.yaml; max
// bounds a size. Adding a field with its tags adds the key, its default,
// its checks and its place in the merge.
type Limits struct {
	// ReadLimit is the largest frame a client may send, in bytes. A larger
	// frame closes the connection with 1009.
	ReadLimit int64 `yaml:"readLimit" limit:"size,default=64KiB,max=16MiB"`
	// SendQueue is how many bytes may wait to be written to one client.
	// When a client reads too slowly and its queue would exceed this, it is
	// closed with 4008 (mega.CloseSlowClient); others are never delayed.
	// One frame bigger than SendQueue (a welcome carrying a big roster) is
	// accepted when the queue is empty, and the limit applies on top of it
	// until it is written.
	SendQueue int `yaml:"sendQueue" limit:"size,default=1MiB"`
	// PingInterval is how often an otherwise idle connection is pinged.
	PingInterval time.Duration `yaml:"pingInterval" limit:"duration,default=25s"`
	// PongTimeout is how long a ping may wait for its pong before the
	// connection is considered dead and closed. In mega.yaml it must be
	// shorter than PingInterval.
	PongTimeout time.Duration `yaml:"pongTimeout" limit:"duration,default=15s"`
	// MessagesPerSecond is the sustained rate of messages a client may send;
	// Burst is how many it may send at once. Exceeding them closes the
	// connection with 4029 (mega.CloseRateLimited).
	MessagesPerSecond float64 `yaml:"messagesPerSecond" limit:"count,default=50"`
	Burst             int     `yaml:"burst" limit:"count,default=100"`
	// MaxMetadata is the largest presence metadata, in bytes of JSON.
	MaxMetadata int `yaml:"maxMetadata" limit:"size,default=4KiB"`
	// MaxChannels is how many sub-channels one connection may join.
	MaxChannels int `yaml:"maxChannels" limit:"count,default=32"`
	// MaxConnectionsPerIP caps concurrent connections from one client IP to
	// an app on one instance; MaxConnectionsPerUser caps those of one
	// authenticated user. Over a cap the upgrade is refused with 429.
	// Unlimited (-1; any negative value in Go) turns a cap off. Behind a
	// reverse proxy every client has the proxy's address unless
	// server.trustedProxies lists it: raise the IP cap or make it unlimited
	// there.
	MaxConnectionsPerIP   int `yaml:"maxConnectionsPerIP" limit:"cap,default=256"`
	MaxConnectionsPerUser int `yaml:"maxConnectionsPerUser" limit:"cap,default=32"`
	// AllowedOrigins lists host patterns (path.Match syntax, e.g.
	// "*.example.com") allowed to open WebSockets from a browser besides the
	// server's own origin. Empty means same origin only: other sites cannot
	// open connections with your users' cookies. Nil is "not set"; an
	// empty, non-nil list sets "same origin only" over an inherited list.
	AllowedOrigins []string `yaml:"allowedOrigins" limit:"origins"`
}

// Unlimited turns off a connection cap (MaxConnectionsPerIP,
// MaxConnectionsPerUser), in Go and in mega.yaml.
const Unlimited = -1

// limitKind is what a limit holds, and so how mega.yaml writes it.
type limitKind string

// The kinds of limit, as written in the limit tag.
const (
	kindSize     limitKind = "size"
	kindDuration limitKind = "duration"
	kindCount    limitKind = "count"
	kindCap      limitKind = "cap"
	kindOrigins  limitKind = "origins"
)

// limitSpec is one field of Limits as its tags declare it.
type limitSpec struct {
	key   string    // the mega.yaml key, e.g. "readLimit"
	index int       // the field's index in Limits
	kind  limitKind // what the field holds
	def   string    // the default as written in mega.yaml; "" for none
	max   string    // a size's upper bound as written ("16MiB"); "" for none
}

// limitSpecs are the fields of Limits in declaration order, read once from
// their tags.
var limitSpecs = readLimitTags()

// defaultLimits is every default of limitSpecs parsed as mega.yaml would.
var defaultLimits = parseDefaults()

// DefaultLimits returns the limits an app starts with, the defaults of
// mega.yaml's websocket section: each is written in its field's limit tag
// and parsed by the rules of its key. AllowedOrigins is nil (same origin
// only).
func DefaultLimits() Limits { return defaultLimits }

// readLimitTags reads the yaml and limit tags of every field of Limits. A
// field without them, or a tag it cannot read, is a mistake in this file:
// it panics, so that every test of the package fails on it.
func readLimitTags() []limitSpec {
	t := reflect.TypeFor[Limits]()
	specs := make([]limitSpec, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		s := limitSpec{key: f.Tag.Get("yaml"), index: i}
		kind, opts, _ := strings.Cut(f.Tag.Get("limit"), ",")
		s.kind = limitKind(kind)
		for opt := range strings.SplitSeq(opts, ",") {
			name, value, _ := strings.Cut(opt, "=")
			switch name {
			case "":
			case "default":
				s.def = value
			case "max":
				s.max = value
			default:
				panic(fmt.Sprintf("config: Limits.%s: unknown limit tag option %q", f.Name, name))
			}
		}
		want := map[limitKind][]reflect.Kind{
			kindSize:     {reflect.Int, reflect.Int64},
			kindDuration: {reflect.Int64},
			kindCount:    {reflect.Int, reflect.Float64},
			kindCap:      {reflect.Int},
			kindOrigins:  {reflect.Slice},
		}[s.kind]
		switch {
		case s.key == "":
			panic(fmt.Sprintf("config: Limits.%s has no yaml tag", f.Name))
		case want == nil:
			panic(fmt.Sprintf("config: Limits.%s: unknown limit kind %q", f.Name, kind))
		case !slices.Contains(want, f.Type.Kind()):
			panic(fmt.Sprintf("config: Limits.%s: a %s limit cannot be a %s", f.Name, kind, f.Type))
		case s.max != "" && s.kind != kindSize:
			panic(fmt.Sprintf("config: Limits.%s: only a size has a max", f.Name))
		}
		specs[i] = s
	}
	return specs
}

// parseDefaults parses the default of every limit with the decoder that
// reads mega.yaml, so a default obeys the rules of its key.
func parseDefaults() Limits {
	d := &decoder{env: func(string) (string, bool) { return "", false }, lines: map[string]int{}}
	var l Limits
	v := reflect.ValueOf(&l).Elem()
	for _, s := range limitSpecs {
		if s.def != "" {
			d.limit(s, "websocket."+s.key, &yaml.Node{Kind: yaml.ScalarNode, Value: s.def}, v.Field(s.index))
		}
	}
	if len(d.errs) > 0 {
		panic("config: a default in the tags of Limits is invalid:\n" + d.errs.Error())
	}
	return l
}

// With returns l with the limits set in o replaced, and its AllowedOrigins
// copied. Set means non-zero; a negative value counts only for the caps
// (a negative size, duration or count is ignored, as zero is); for
// AllowedOrigins it means non-nil, so an empty list sets "same origin only".
// It is the one merge of limits: global with app (Config.App), app with
// channel (mega.WithChannelLimits).
func (l Limits) With(o Limits) Limits {
	dst, src := reflect.ValueOf(&l).Elem(), reflect.ValueOf(&o).Elem()
	for _, s := range limitSpecs {
		if v := src.Field(s.index); s.set(v) {
			dst.Field(s.index).Set(v)
		}
	}
	l.AllowedOrigins = slices.Clone(l.AllowedOrigins)
	return l
}

// maxBytes returns the upper bound of a size, 0 for none.
func (s limitSpec) maxBytes() int64 {
	if s.max == "" {
		return 0
	}
	n, err := ParseSize(s.max)
	if err != nil {
		panic(fmt.Sprintf("config: the max of %s: %v", s.key, err))
	}
	return n
}

// set reports whether v, a value of the limit s, is set.
func (s limitSpec) set(v reflect.Value) bool {
	switch {
	case s.kind == kindOrigins:
		return !v.IsNil()
	case s.kind == kindCap:
		return v.Int() != 0
	case v.CanFloat():
		return v.Float() > 0
	}
	return v.Int() > 0
}

// limits decodes a websocket section (global or per app): every key is a
// field of Limits, and a key left out stays zero.
func (d *decoder) limits(p string, n *yaml.Node) Limits {
	var l Limits
	v := reflect.ValueOf(&l).Elem()
	fields := make(map[string]field, len(limitSpecs))
	for _, s := range limitSpecs {
		fields[s.key] = func(p string, n *yaml.Node) { d.limit(s, p, n, v.Field(s.index)) }
	}
	d.mapping(p, n, fields)
	return l
}

// limit parses the value n of limit s at p into dst, or reports why not.
func (d *decoder) limit(s limitSpec, p string, n *yaml.Node, dst reflect.Value) {
	var x int64
	var ok bool
	switch s.kind {
	case kindSize:
		x, ok = d.size(s.maxBytes())(p, n)
	case kindDuration:
		var v time.Duration
		v, ok = d.duration(p, n)
		x = int64(v)
	case kindCount:
		var v int
		v, ok = d.atLeast(1)(p, n)
		x = int64(v)
	case kindCap:
		var v int
		v, ok = d.connectionCap(s, p, n)
		x = int64(v)
	case kindOrigins:
		dst.Set(reflect.ValueOf(d.origins(p, n)))
		return
	}
	switch {
	case !ok:
	case dst.CanFloat():
		dst.SetFloat(float64(x))
	case dst.OverflowInt(x):
		d.add(p, "must be at most %d, got %d", int64(1)<<(dst.Type().Bits()-1)-1, x)
	default:
		dst.SetInt(x)
	}
}

// connectionCap parses a cap: a whole number, at least 1, or -1 for
// unlimited. An explicit 0 meant unlimited before -1 did, so it is refused
// with what to write instead rather than read as "not set".
func (d *decoder) connectionCap(s limitSpec, p string, n *yaml.Node) (int, bool) {
	const want = "a whole number, at least 1, or -1 for unlimited"
	str, ok := d.scalar(p, n, want)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(str)
	switch {
	case err != nil:
		d.add(p, "must be %s, got %q", want, str)
	case v == 0:
		keep := fmt.Sprintf("the default (%s)", s.def)
		if strings.HasPrefix(p, "appConfig.") {
			keep = fmt.Sprintf("the global websocket.%s (default %s)", s.key, s.def)
		}
		d.add(p, "must not be 0, which used to mean unlimited: write -1 for unlimited, or leave the key out for %s", keep)
	case v < Unlimited:
		d.add(p, "must be %s, got %d", want, v)
	default:
		return v, true
	}
	return 0, false
}
