package devloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Defaults of Options.
const (
	DefaultPort         = 8080
	DefaultDelay        = 150 * time.Millisecond
	DefaultGrace        = 5 * time.Second
	DefaultReadyTimeout = time.Minute
	// MaxInstances bounds --instances: more is a typo, not a dev set-up.
	MaxInstances = 16
)

// ErrInvalid is matched (errors.Is) by the error Run returns when an option
// is out of range: a usage error.
var ErrInvalid = errors.New("invalid option")

type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

// Options configure a dev loop. The zero value of a field means its
// default.
type Options struct {
	// Dir is the app's directory, the one with go.mod. Default ".".
	Dir string
	// Instances is how many instances run, on Port, Port+1, …. Default 1.
	Instances int
	// Port is the first instance's port, passed to it as PORT.
	// Default DefaultPort.
	Port int
	// Delay is the debounce: how long the tree must be quiet after a change
	// before a build starts. Default DefaultDelay.
	Delay time.Duration
	// Grace is how long an instance may take to stop after SIGTERM before
	// it is killed. Default DefaultGrace.
	Grace time.Duration
	// ReadyTimeout is how long a started instance may take before its
	// GET /readyz answers. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Args are passed to the app.
	Args []string
	// Env is the environment the app is built and run with; the loop adds
	// PORT, NATS_URL and the MEGA_DEV variables. Default os.Environ().
	Env []string
	// Out receives status lines and the instances' output. Default
	// os.Stdout.
	Out io.Writer
	// Color prefixes lines with ANSI colours.
	Color bool
}

// withDefaults fills in defaults and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		o.Dir = "."
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("--dir %s: %w", o.Dir, err)
	}
	o.Dir = dir
	if o.Instances == 0 {
		o.Instances = 1
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Delay == 0 {
		o.Delay = DefaultDelay
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	var errs []error
	if o.Instances < 1 || o.Instances > MaxInstances {
		errs = append(errs, fmt.Errorf("--instances: must be 1 to %d, got %d", MaxInstances, o.Instances))
	}
	if o.Port < 1 || o.Port+o.Instances-1 > 65535 {
		errs = append(errs, fmt.Errorf("--port: must be 1 to %d for %d instance(s), got %d", 65536-o.Instances, o.Instances, o.Port))
	}
	if o.Delay < 0 {
		errs = append(errs, fmt.Errorf("--delay: must not be negative, got %s", o.Delay))
	}
	if o.Grace < 0 {
		errs = append(errs, fmt.Errorf("--grace: must not be negative, got %s", o.Grace))
	}
	if len(errs) > 0 {
		return o, invalidError{errors.Join(errs...)}
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return o, fmt.Errorf("%s has no go.mod: run mega dev in an app's directory, or pass --dir", dir)
		}
		return o, err
	}
	return o, nil
}

// Run builds the app in opts.Dir into tmp/, runs it, and rebuilds and
// restarts it on every change until ctx ends. Then it stops every instance
// (leaving no process behind), stops the NATS server it hosts and removes
// tmp/. It returns an error only when it cannot start.
func Run(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	return run(ctx, opts)
}
