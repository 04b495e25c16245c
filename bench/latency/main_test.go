package latency

import (
	"os"
	"testing"
)

// TestMain lets Measure re-execute the test binary as a server child.
func TestMain(m *testing.M) {
	ServeChild()
	os.Exit(m.Run())
}
