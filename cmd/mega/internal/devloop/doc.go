// Package devloop is the supervisor behind `mega dev`: it builds an app into
// tmp/, runs one or more instances of it, watches the source tree and
// rebuilds and restarts on change, while hosting the NATS server the
// instances share so that a restart never loses the bus.
//
// The failure modes of other dev loops it is built to avoid, and how:
//
//   - a port still held after a restart: an instance is stopped (SIGTERM to
//     its process group, a grace period, SIGKILL, reap) and its port is
//     checked free before the new binary starts;
//   - zombie and orphan children: every app runs in its own process group,
//     which is signalled as a whole, and every child is reaped;
//   - two processes after one save: one loop owns every instance and an
//     instance slot holds at most one process, started only after the
//     previous one is reaped;
//   - rebuild loops on editors' temp files and empty writes: temp files and
//     tool directories are ignored, and a change counts only when a file's
//     content hash changed (an empty intermediate write is given one more
//     debounce period to be completed);
//   - a dead app after a typo: a failed build keeps the running version
//     serving and prints the compiler output;
//   - a lost bus: the supervisor, not the app, runs the embedded
//     nats-server and passes NATS_URL to every instance.
//
// Browsers are reloaded through the framework's dev mode (MEGA_DEV=1, see
// mega.DevMode): the supervisor publishes notices on its NATS server and the
// apps forward them to the pages they served.
package devloop
