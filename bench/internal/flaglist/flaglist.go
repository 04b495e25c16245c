package flaglist

import (
	"fmt"
	"strconv"
	"strings"
)

// fields splits s at commas and trims each field, leaving out empty ones,
// so that "1, 2,,4," reads as 1,2,4.
func fields(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Ints parses a list of whole numbers: "1,2,4,8".
func Ints(s string) ([]int, error) {
	var out []int
	for _, f := range fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q: not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// Floats parses a list of numbers, each with an optional suffix k for
// thousands: "10k,100k,2.5e5".
func Floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range fields(s) {
		mult := 1.0
		if k, ok := strings.CutSuffix(f, "k"); ok {
			f, mult = k, 1000
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: not a number", f)
		}
		out = append(out, v*mult)
	}
	return out, nil
}

// Set parses a list of names into a set: "xdp-drop, kernel-reuseport".
func Set(s string) map[string]bool {
	set := map[string]bool{}
	for _, f := range fields(s) {
		set[f] = true
	}
	return set
}
