package config

import "strings"

// suggest returns the entry of valid closest to key, or "" when none is
// close enough to be a likely typo. Case is ignored, so "readlimit" suggests
// "readLimit". A key may be off by about one edit per three characters: one
// edit for short keys, at most three for long ones.
func suggest(key string, valid []string) string {
	limit := min(max(len([]rune(key))/3, 1), 3)
	best, bestDist := "", limit+1
	for _, v := range valid {
		dist := distance(strings.ToLower(key), strings.ToLower(v))
		if dist < bestDist || (dist == bestDist && v < best) {
			best, bestDist = v, dist
		}
	}
	return best
}

// distance is the Levenshtein edit distance between a and b: the fewest
// single-character insertions, deletions and substitutions that turn one
// into the other.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
