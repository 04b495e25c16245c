package report

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var errBad = errors.New("test: bad report")

// sample is a report with one array that must be there and one that may
// be left out; Check refuses a negative count.
type sample struct {
	Runs  []struct{ N int }    `json:"runs"`
	Notes []struct{ S string } `json:"notes"`
}

func (s *sample) Check() error {
	for _, r := range s.Runs {
		if r.N < 0 {
			return errors.Join(errBad, errors.New("negative"))
		}
	}
	return nil
}

func decodeSample(b string) (*sample, error) {
	return DecodeJSON[sample]([]byte(b), errBad,
		Keys{Array: "notes", Keys: []string{"S"}},
		Keys{Array: "runs", Required: true, Keys: []string{"N"}})
}

func TestDecodeJSON(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want: "" for no error, else a part of it
	}{
		{`{"runs":[{"N":1}]}`, ""},
		{`{"runs":[],"notes":[{"S":"x"}]}`, ""},
		{`{`, "unexpected end"},
		{`{}`, `no "runs" array`},
		{`{"runs":null}`, `no "runs" array`},
		{`{"notes":[{}]}`, `no "runs" array`}, // missing arrays before missing keys
		{`{"runs":[{"N":1},{}]}`, `runs[1]: no "N"`},
		{`{"runs":[{}],"notes":[{}]}`, `notes[0]: no "S"`}, // in the order of keys
		{`{"runs":5}`, "cannot unmarshal"},
		{`{"runs":[{"N":-1}]}`, "negative"},
	} {
		r, err := decodeSample(tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.in, err)
		case tt.want == "" && r == nil:
			t.Errorf("%s: no report", tt.in)
		case tt.want != "" && (!errors.Is(err, errBad) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error wrapping errBad mentioning %q", tt.in, err, tt.want)
		}
	}
}

func TestNonNegative(t *testing.T) {
	for _, v := range []float64{0, 1, 1e12} {
		if err := NonNegative(errBad, "x", v); err != nil {
			t.Errorf("NonNegative(%v) = %v, want nil", v, err)
		}
	}
	for _, v := range []float64{-1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := NonNegative(errBad, "runs[0] x", v)
		if !errors.Is(err, errBad) || !strings.Contains(err.Error(), "runs[0] x = ") {
			t.Errorf("NonNegative(%v) = %v, want errBad naming the figure", v, err)
		}
	}
}
