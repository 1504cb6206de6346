package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// tableCmd reads many JSON reports and prints, as markdown, the median (and
// range) of each metric per label and client count, with ratios against
// the baseline labels measured in the same set of runs.
func tableCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("megabench table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baselines := fs.String("baselines", "raw,centrifuge", "labels to compare every other label against")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("table: give the JSON reports to summarise")
	}
	var reps []*Report
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		reps = append(reps, &r)
	}
	writeTables(stdout, reps, splitList(*baselines))
	return nil
}

type groupKey struct {
	mode    string
	label   string
	clients int
}

type metric struct {
	name  string
	unit  string
	of    func(*Report) (float64, bool)
	ratio bool // shown in the ratio table
}

var broadcastMetrics = []metric{
	{"deliveries/s", "", func(r *Report) (float64, bool) { return r.DeliveriesPerSec, true }, true},
	{"server CPU per delivery", "µs", func(r *Report) (float64, bool) {
		if r.Server == nil {
			return 0, false
		}
		return r.Server.CPUPerDeliveryUs, true
	}, true},
	{"p50", "ms", func(r *Report) (float64, bool) { return latUs(r, func(l *Latency) float64 { return l.P50us }) }, true},
	{"p99", "ms", func(r *Report) (float64, bool) { return latUs(r, func(l *Latency) float64 { return l.P99us }) }, true},
	{"added p50", "ms", func(r *Report) (float64, bool) { return added(r, func(l *Latency) float64 { return l.P50us }) }, true},
	{"added p99", "ms", func(r *Report) (float64, bool) { return added(r, func(l *Latency) float64 { return l.P99us }) }, true},
	{"lost", "", func(r *Report) (float64, bool) { return float64(r.Lost), true }, false},
	{"connects/s", "", func(r *Report) (float64, bool) { return r.Connect.PerSecond, true }, false},
}

var idleMetrics = []metric{
	{"RSS per conn", "KB", func(r *Report) (float64, bool) { return r.Memory.RSSPerConn / 1024, r.Server != nil }, true},
	{"peak RSS per conn", "KB", func(r *Report) (float64, bool) {
		if r.Server == nil || r.Connect.Connected == 0 {
			return 0, false
		}
		return float64(r.Server.PeakRSSBytes-r.Server.RSSStartBytes) / float64(r.Connect.Connected) / 1024, true
	}, true},
	{"Go heap per conn", "KB", func(r *Report) (float64, bool) { return r.Memory.HeapPerConn / 1024, r.Memory.After != nil }, true},
	{"stacks per conn", "KB", func(r *Report) (float64, bool) { return r.Memory.StackPerConn / 1024, r.Memory.After != nil }, false},
	{"goroutines per conn", "", func(r *Report) (float64, bool) { return r.Memory.GoroutinesPerCon, r.Memory.After != nil }, false},
	{"connects/s", "", func(r *Report) (float64, bool) { return r.Connect.PerSecond, true }, false},
	{"storm", "s", func(r *Report) (float64, bool) { return r.Connect.AwaitSeconds, r.Connect.Awaited > 0 }, true},
	{"awaited", "", func(r *Report) (float64, bool) { return float64(r.Connect.Awaited), r.Params.Await != "" }, false},
	{"disconnects", "", func(r *Report) (float64, bool) { return float64(r.Disconnects), true }, false},
}

// added is what crossing instances adds to a latency quantile in one run:
// the mean over the other URLs of their quantile minus the first URL's (the
// publisher's instance), in ms. Only for runs over several URLs.
func added(r *Report, q func(*Latency) float64) (float64, bool) {
	if len(r.ByURL) < 2 || r.ByURL[0].Latency == nil {
		return 0, false
	}
	local := q(r.ByURL[0].Latency)
	var sum float64
	for _, u := range r.ByURL[1:] {
		if u.Latency == nil {
			return 0, false
		}
		sum += q(u.Latency) - local
	}
	return sum / float64(len(r.ByURL)-1) / 1000, true
}

func latUs(r *Report, f func(*Latency) float64) (float64, bool) {
	if r.Latency == nil || r.Latency.Count == 0 {
		return 0, false
	}
	return f(r.Latency) / 1000, true
}

// stat is the median and range of one metric over a group's runs.
type stat struct {
	med, lo, hi float64
	n           int
}

func statOf(reps []*Report, m metric) (stat, bool) {
	var v []float64
	for _, r := range reps {
		if x, ok := m.of(r); ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return stat{}, false
	}
	sort.Float64s(v)
	return stat{med: median(v), lo: v[0], hi: v[len(v)-1], n: len(v)}, true
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func writeTables(w io.Writer, reps []*Report, baselines []string) {
	groups := map[groupKey][]*Report{}
	var keys []groupKey
	for _, r := range reps {
		k := groupKey{r.Mode, r.Label, r.Params.Clients}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	order := func(label string) int {
		if i := slices.Index(baselines, label); i >= 0 {
			return i
		}
		return len(baselines)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.mode != b.mode {
			return a.mode < b.mode
		}
		if a.clients != b.clients {
			return a.clients < b.clients
		}
		if order(a.label) != order(b.label) {
			return order(a.label) < order(b.label)
		}
		return a.label < b.label
	})
	for _, mode := range []string{"broadcast", "idle"} {
		metrics := broadcastMetrics
		if mode == "idle" {
			metrics = idleMetrics
		}
		var rows []groupKey
		for _, k := range keys {
			if k.mode == mode {
				rows = append(rows, k)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s — median [min–max] of n runs\n\n", mode)
		head := []string{"server", "clients", "n"}
		for _, m := range metrics {
			h := m.name
			if m.unit != "" {
				h += " (" + m.unit + ")"
			}
			head = append(head, h)
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
		for _, k := range rows {
			cells := []string{k.label, fmt.Sprint(k.clients), fmt.Sprint(len(groups[k]))}
			for _, m := range metrics {
				s, ok := statOf(groups[k], m)
				if !ok {
					cells = append(cells, "–")
					continue
				}
				cells = append(cells, fmt.Sprintf("%s [%s–%s]", num(s.med), num(s.lo), num(s.hi)))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		writeRatios(w, groups, rows, metrics, baselines)
	}
	writeByURL(w, groups, keys)
}

// writeRatios prints, for every label that is not a baseline, the ratio of
// its medians to each baseline's at the same client count.
func writeRatios(w io.Writer, groups map[groupKey][]*Report, rows []groupKey, metrics []metric, baselines []string) {
	var lines []string
	for _, k := range rows {
		if slices.Contains(baselines, k.label) {
			continue
		}
		for _, b := range baselines {
			bk := groupKey{k.mode, b, k.clients}
			if _, ok := groups[bk]; !ok {
				continue
			}
			var parts []string
			for _, m := range metrics {
				if !m.ratio {
					continue
				}
				s, ok1 := statOf(groups[k], m)
				bs, ok2 := statOf(groups[bk], m)
				if !ok1 || !ok2 || bs.med == 0 {
					continue
				}
				parts = append(parts, fmt.Sprintf("%s %.2f×", m.name, s.med/bs.med))
			}
			if len(parts) > 0 {
				lines = append(lines, fmt.Sprintf("| %s / %s | %d | %s |", k.label, b, k.clients, strings.Join(parts, ", ")))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\nRatios of medians:\n\n| ratio | clients | value |\n|---|---|---|\n%s\n", strings.Join(lines, "\n"))
}

// writeByURL prints the latency per subscriber URL for runs that spread
// their subscribers over several instances.
func writeByURL(w io.Writer, groups map[groupKey][]*Report, keys []groupKey) {
	for _, k := range keys {
		reps := groups[k]
		if len(reps) == 0 || len(reps[0].ByURL) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s, %d clients — latency per subscriber URL (median of %d runs)\n\n| url | p50 (ms) | p99 (ms) | delivered |\n|---|---|---|---|\n", k.label, k.clients, len(reps))
		for i, u := range reps[0].ByURL {
			var p50, p99, del []float64
			for _, r := range reps {
				if i < len(r.ByURL) && r.ByURL[i].Latency != nil {
					p50 = append(p50, r.ByURL[i].Latency.P50us/1000)
					p99 = append(p99, r.ByURL[i].Latency.P99us/1000)
					del = append(del, float64(r.ByURL[i].Delivered))
				}
			}
			sort.Float64s(p50)
			sort.Float64s(p99)
			sort.Float64s(del)
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", u.URL, num(median(p50)), num(median(p99)), num(median(del)))
		}
		// The first URL's subscribers share an instance with the publisher:
		// the others' extra latency is what crossing to another instance adds.
		var d50, d99 []float64
		for _, r := range reps {
			if len(r.ByURL) < 2 || r.ByURL[0].Latency == nil {
				continue
			}
			local := r.ByURL[0].Latency
			var s50, s99 float64
			for _, u := range r.ByURL[1:] {
				s50 += u.Latency.P50us - local.P50us
				s99 += u.Latency.P99us - local.P99us
			}
			n := float64(len(r.ByURL) - 1)
			d50, d99 = append(d50, s50/n/1000), append(d99, s99/n/1000)
		}
		if len(d50) > 0 {
			sort.Float64s(d50)
			sort.Float64s(d99)
			fmt.Fprintf(w, "\nAdded by crossing instances (other URLs minus the first, median of per-run differences): p50 %s ms [%s–%s], p99 %s ms [%s–%s]\n",
				num(median(d50)), num(d50[0]), num(d50[len(d50)-1]), num(median(d99)), num(d99[0]), num(d99[len(d99)-1]))
		}
	}
}

// num formats a figure with about three significant digits.
func num(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3f", v)
}
