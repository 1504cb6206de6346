//go:build !unix

package devloop

import (
	"context"
	"errors"
)

func run(context.Context, Options) error {
	return errors.New("mega dev: process groups are needed to stop apps cleanly; this system has none (use Linux, macOS or WSL)")
}
