package report

import (
	"encoding/json"
	"fmt"
	"math"
)

// Keys names the keys that every element of a top-level array of a report
// must have: a key that is missing is not the same as a zero, and Go's
// decoder would not tell them apart. Required says the array itself must
// be there.
type Keys struct {
	Array    string
	Keys     []string
	Required bool
}

// DecodeJSON decodes b into a new T and checks it: first that every array
// named in keys is there if required and has its keys, then T's Check.
// Every error it returns wraps errBad, the benchmark's ErrBadReport.
func DecodeJSON[T any, PT interface {
	*T
	Check() error
}](b []byte, errBad error, keys ...Keys) (*T, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%w: %w", errBad, err)
	}
	arrays := make([][]map[string]json.RawMessage, len(keys))
	for i, k := range keys {
		if err := json.Unmarshal(orNull(top[k.Array]), &arrays[i]); err != nil {
			return nil, fmt.Errorf("%w: %w", errBad, err)
		}
	}
	// Missing arrays first, then missing keys, in the order of keys.
	for i, k := range keys {
		if k.Required && arrays[i] == nil {
			return nil, fmt.Errorf("%w: no %q array", errBad, k.Array)
		}
	}
	for i, k := range keys {
		for j, elem := range arrays[i] {
			for _, key := range k.Keys {
				if _, ok := elem[key]; !ok {
					return nil, fmt.Errorf("%w: %s[%d]: no %q", errBad, k.Array, j, key)
				}
			}
		}
	}
	var r T
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", errBad, err)
	}
	if err := PT(&r).Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// orNull stands null in for an absent value, which json.Unmarshal would
// refuse.
func orNull(m json.RawMessage) json.RawMessage {
	if m == nil {
		return json.RawMessage("null")
	}
	return m
}

// NonNegative returns nil if v is a finite number >= 0, as every figure
// of a report must be, or an error wrapping errBad that names the figure.
func NonNegative(errBad error, name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%w: %s = %v: want a finite number >= 0", errBad, name, v)
	}
	return nil
}
