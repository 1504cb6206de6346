// Package memstat serves a bench server's Go memory statistics, measured
// after a garbage collection, for megabench --stats-url.
package memstat

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
)

// Stats is what Handler answers; megabench reads the same fields.
type Stats struct {
	HeapAlloc  uint64 `json:"heapAlloc"`
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
}

// Read collects garbage (and returns freed memory to the OS) and reads the
// memory statistics.
func Read() Stats {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Stats{HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys, Goroutines: runtime.NumGoroutine()}
}

// Handler answers GET with Read as JSON.
func Handler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Read())
}
