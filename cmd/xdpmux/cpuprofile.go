package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// cpuProfile is `run -cpuprofile FILE`: a CPU profile of the whole run,
// held in memory and written to FILE when the run ends. It is written to a
// temporary file beside FILE and renamed, so an instance started by a
// takeover (kill -USR2, with the same arguments) never writes into the
// file the old one is still writing: the instance that ends last leaves
// its profile in FILE. scripts/pgo.sh uses it to refresh default.pgo.
type cpuProfile struct {
	path string
	buf  bytes.Buffer
}

// startCPUProfile starts profiling this process for FILE.
func startCPUProfile(path string) (*cpuProfile, error) {
	p := &cpuProfile{path: path}
	// Fail now, not after the run, if FILE's directory cannot be written.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return p, nil
}

// stop stops profiling and writes the profile to FILE.
func (p *cpuProfile) stop() error {
	pprof.StopCPUProfile()
	f, err := os.CreateTemp(filepath.Dir(p.path), "."+filepath.Base(p.path)+".*")
	if err != nil {
		return fmt.Errorf("-cpuprofile: %w", err)
	}
	_, err = f.Write(p.buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("-cpuprofile: %w", err)
	}
	return nil
}
