package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// latencies are the durations of individual requests.
type latencies []time.Duration

func (l latencies) sorted() []time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s
}

func (l latencies) median() time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := l.sorted()
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// p95 is the nearest-rank 95th percentile: the smallest latency at least
// 95% of requests did not exceed.
func (l latencies) p95() time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := l.sorted()
	return s[int(math.Ceil(0.95*float64(len(s))))-1]
}

// medianFloat is the median of repeated rate measurements.
func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// speedup is how many times better radmark is: radmark/Orthanc for rates,
// Orthanc/radmark for latencies, so >1 always means radmark is better.
type speedup float64

func rateSpeedup(radmark, orthanc float64) speedup {
	if orthanc == 0 {
		return speedup(math.NaN())
	}
	return speedup(radmark / orthanc)
}

func latencySpeedup(radmark, orthanc time.Duration) speedup {
	if radmark == 0 {
		return speedup(math.NaN())
	}
	return speedup(float64(orthanc) / float64(radmark))
}

func (s speedup) String() string {
	if math.IsNaN(float64(s)) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", float64(s))
}

// ms formats a latency in milliseconds with enough digits for
// sub-millisecond answers.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

const mb = 1e6 // MB in rates is 10^6 bytes
