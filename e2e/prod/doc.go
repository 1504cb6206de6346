// Package prod holds mega's production-topology test: the app runs the way
// production runs it, as separate processes on a NATS cluster of separate
// nats-server processes, and the test breaks that fleet the way production
// does.
//
// TestProductionTopology builds nats-server from the module mega already
// requires and an app (testdata/prodapp, mega.Main with one chat channel
// and presence events) into binaries; it starts three nats-server
// processes routed into one cluster and three app processes, each
// connected to a different node and listing all three. Real WebSocket
// clients connect to every app. Then:
//
//   - the NATS node under one app is killed with SIGKILL: the app fails
//     over to another node, /readyz recovers, the roster stays the truth
//     everywhere and cross-instance chat resumes;
//   - the apps are restarted one by one with SIGTERM (drain, then 1001 with
//     "retry=<ms>") and a replacement on the same port, under connected
//     clients that reconnect the way the browser client does: every client
//     comes back, spread over the hint's window, no member is left behind in
//     anyone's roster, and a broadcast reaches every client exactly once.
//
// Each step's time is printed with -v. Run it with
//
//	go test -v -run TestProductionTopology ./e2e/prod/
//
// It is skipped with -short, every wait has a deadline, and every process
// it starts is killed (its whole process group) when it ends. The numbers
// it measured are in docs/reliability.md.
package prod
