//go:build !unix

package devloop

import (
	"context"
	"errors"
)

func run(context.Context, Options) error {
	return errors.New("mega dev needs Unix process groups to stop apps cleanly: use Linux, macOS or WSL")
}
