//go:build race

package mega_test

// raceEnabled scales heavy tests down under the race detector, which makes
// every goroutine several times slower.
const raceEnabled = true
