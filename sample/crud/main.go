// Command crud runs the app: `go run .` serves http://localhost:8080
// with an embedded NATS server and a SQLite database in data/, configured
// by mega.yaml (--config to choose another file).
package main

import (
	mega "github.com/megaframework/mega/framework"

	mainapp "crud/apps/main"
)

func main() {
	mega.Main(mega.Apps{"main": mainapp.New})
}
