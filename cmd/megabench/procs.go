package main

import (
	"fmt"
	"sync"
	"time"
)

// procs samples the server processes given with --pid at named moments.
type procs struct {
	pids    []string
	mu      sync.Mutex
	samples map[string][]procSample // moment → one sample per pid
	times   map[string]time.Time
}

func newProcs(pids []string) (*procs, error) {
	p := &procs{pids: pids, samples: map[string][]procSample{}, times: map[string]time.Time{}}
	for _, pid := range pids {
		if _, err := readProc(pid); err != nil {
			return nil, fmt.Errorf("--pid %s: %w (the process must run on this machine)", pid, err)
		}
	}
	return p, nil
}

func (p *procs) n() int { return len(p.pids) }

// sample records every process's CPU time and RSS under moment.
func (p *procs) sample(moment string) {
	s := make([]procSample, len(p.pids))
	for i, pid := range p.pids {
		s[i], _ = readProc(pid) // a process that died reads as zero
	}
	p.mu.Lock()
	p.samples[moment] = s
	p.times[moment] = time.Now()
	p.mu.Unlock()
}

func (p *procs) get(moment string) []procSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.samples[moment]
}

// cpu returns the total CPU time of the processes now.
func (p *procs) cpu() time.Duration {
	var d time.Duration
	for _, pid := range p.pids {
		if s, err := readProc(pid); err == nil {
			d += s.cpu
		}
	}
	return d
}

// between returns the processes' total CPU time from moment a to moment b.
func (p *procs) between(a, b string) time.Duration {
	sa, sb := p.get(a), p.get(b)
	var d time.Duration
	for i := range sb {
		if i < len(sa) {
			d += sb[i].cpu - sa[i].cpu
		}
	}
	return d
}

// elapsed returns the wall time from moment a to moment b.
func (p *procs) elapsed(a, b string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.times[b].Sub(p.times[a])
}
