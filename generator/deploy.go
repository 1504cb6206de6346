package generator

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// natsServerModule is the NATS server the framework embeds and tests
// against; compose.yaml runs the same minor version.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// natsImage returns the official nats Docker image for the nats-server
// version the framework's go.mod requires: "nats:MAJOR.MINOR-alpine", so a
// new app's compose.yaml runs the servers its framework was tested with,
// with patch releases. Alpine, for the busybox wget of its health check.
func natsImage(gomod string) (string, error) {
	v, err := requiredVersion(gomod, natsServerModule)
	if err != nil {
		return "", err
	}
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if v == "" || !strings.HasPrefix(v, "v") || len(parts) < 2 {
		return "", fmt.Errorf("%s does not require %s with a version like v2.10.0 (got %q)", gomod, natsServerModule, v)
	}
	return "nats:" + parts[0] + "." + parts[1] + "-alpine", nil
}

// requiredVersion returns the version of module in a go.mod's require
// lines (single or in a block), or "" when it is not required.
func requiredVersion(gomod, module string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	inBlock := false
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inBlock && f[0] == ")":
			inBlock = false
		case !inBlock && len(f) == 2 && f[0] == "require" && f[1] == "(":
			inBlock = true
		case inBlock && len(f) == 2 && f[0] == module:
			return f[1], nil
		case !inBlock && len(f) == 3 && f[0] == "require" && f[1] == module:
			return f[2], nil
		}
	}
	return "", sc.Err()
}
