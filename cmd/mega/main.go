// Command mega scaffolds mega apps, runs them with hot reload and checks
// their configuration:
//
//	mega new NAME                  write a new app into ./NAME
//	mega generate channel NAME     add a WebSocket channel to an app
//	mega generate resource NAME field:type...
//	                               add a REST resource to an app
//	mega dev [--instances N]       build, run and reload the app on every save
//	mega config check              validate mega.yaml
//	mega routes [--json]           list the app's HTTP routes and channels
//	mega version                   print the version
//
// Exit codes: 0 success, 1 failure, 2 usage error. docs/cli.md describes
// every command and flag.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
