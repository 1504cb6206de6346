package config_test

import (
	"fmt"

	"github.com/megaframework/mega/framework/config"
)

func ExampleParse() {
	src := []byte(`
server: { addr: ":${PORT:-8080}" }
services:
  buses:
    main: { driver: nats, url: "${NATS_URL:-embedded}" }
wsCluster: { bus: main, roster: { driver: redis } }
`)
	// A real program passes os.LookupEnv; here PORT is set and NATS_URL is not.
	lookup := func(name string) (string, bool) {
		if name == "PORT" {
			return "3000", true
		}
		return "", false
	}

	c, err := config.Parse(src, lookup)
	fmt.Println(c.Server.Addr, c.Services.Buses["main"].Embedded())
	fmt.Println(err)
	// Output:
	// :3000 true
	// wsCluster.roster.driver: must be "nats" or "none", got "redis" (line 6)
}
