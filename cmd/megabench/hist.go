package main

import (
	"math/bits"
	"sync/atomic"
)

// hist is a log-linear latency histogram in nanoseconds: 128 linear
// sub-buckets per power of two, so a quantile is off by at most ~0.8%
// (0.15 ms at 20 ms: fine enough for the difference of two quantiles, the
// hop's "added").
// Recording is lock-free; several goroutines may record at once.
type hist struct {
	counts [histBuckets]atomic.Uint64
}

const (
	subBits     = 7
	subCount    = 1 << subBits
	histBuckets = (64 - subBits + 1) * subCount
)

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // shift that leaves subBits+1 bits
	return (e+1)*subCount + int((v>>uint(e))&(subCount-1))
}

// bucketMid returns a representative value (the middle) of bucket i.
func bucketMid(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := i/subCount - 1
	low := (uint64(subCount) | uint64(i%subCount)) << uint(e)
	return low + (uint64(1)<<uint(e))/2
}

func (h *hist) record(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.counts[bucketOf(uint64(ns))].Add(1)
}

// merge adds o's counts to h.
func (h *hist) merge(o *hist) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
}

func (h *hist) total() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile returns the value at quantile q (0..1) in nanoseconds.
func (h *hist) quantile(q float64) uint64 {
	n := h.total()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return bucketMid(i)
		}
	}
	return bucketMid(histBuckets - 1)
}

func (h *hist) max() uint64 {
	for i := histBuckets - 1; i >= 0; i-- {
		if h.counts[i].Load() > 0 {
			return bucketMid(i)
		}
	}
	return 0
}
