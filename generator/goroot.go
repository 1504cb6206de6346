package generator

import (
	"go/build"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// goroot returns the Go installation's root, or "" when it is unknown.
var goroot = sync.OnceValue(func() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return build.Default.GOROOT
})
