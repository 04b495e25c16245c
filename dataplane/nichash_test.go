package dataplane

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// metaKind is what a test frame carries before it in the UMEM.
type metaKind int

const (
	metaNone    metaKind = iota // nothing written (a plain program)
	metaValid                   // the driver gave a hash
	metaNoHash                  // the program ran, the driver had no hash
	metaNoMagic                 // bytes that are not the program's
)

// hashLab is a dataplane over one rxqtest source with room for metadata,
// not started, with a group of 4 members on udp 0.0.0.0:53.
func hashLab(t testing.TB, mode string) (*lab, *worker, []*Endpoint) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 4096, FrameSize: 2048, Headroom: 256}, Config{Hash: mode})
	var eps []*Endpoint
	for range 4 {
		eps = append(eps, l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{}))
	}
	return l, l.d.workers[0], eps
}

// hashFrame is frame i of a hash test: UDP to 198.18.0.1:53 from a port of
// its own, carrying i; its NIC hash, when it has one, spreads over the
// whole 32 bits.
func hashFrame(i int) ([]byte, uint32) {
	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], uint64(i))
	src := netip.AddrPortFrom(netip.MustParseAddr("198.19.0.7"), uint16(20000+i))
	f := packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), payload[:])
	return f, uint32(i) * 0x9e3779b9
}

func injectKind(s *rxqtest.Source, f []byte, kind metaKind, nic uint32) bool {
	switch kind {
	case metaValid:
		return s.InjectMeta(f, rxq.NICHash{Hash: nic, Flags: rxq.MetaMagic | rxq.MetaValid})
	case metaNoHash:
		return s.InjectMeta(f, rxq.NICHash{Flags: rxq.MetaMagic})
	case metaNoMagic:
		return s.InjectMeta(f, rxq.NICHash{Hash: nic, Flags: rxq.MetaValid})
	}
	return s.Inject(f)
}

// TestWorkerHashSource: with Config.Hash "nic" a frame whose metadata is
// valid is picked by the NIC's hash, every other frame by the software
// Toeplitz hash, frame by frame; with "toeplitz" the metadata is ignored.
// Each frame lands on the member a lookup with the expected hash gives,
// and the counters say which hash each frame got.
func TestWorkerHashSource(t *testing.T) {
	kinds := []metaKind{metaValid, metaNone, metaNoHash, metaValid, metaNoMagic, metaValid}
	for _, tt := range []struct {
		mode          string
		nic, software uint64 // per round of kinds
	}{
		{HashToeplitz, 0, 6},
		{"", 0, 6},
		{HashNIC, 3, 3},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			l, w, eps := hashLab(t, tt.mode)
			const rounds = 10
			n := rounds * len(kinds)
			want := make([]uint32, n)
			for i := range n {
				f, nic := hashFrame(i)
				kind := kinds[i%len(kinds)]
				want[i] = l.d.tzHash(t, f)
				if kind == metaValid && tt.mode == HashNIC {
					want[i] = nic
				}
				if !injectKind(l.set[0], f, kind, nic) {
					t.Fatalf("inject %d failed", i)
				}
			}
			if got := w.poll(); got != n {
				t.Fatalf("poll = %d, want %d", got, n)
			}
			batch := make([]Frame, rxq.BatchSize)
			seen := 0
			var tuple packet.Tuple
			for _, ep := range eps {
				for k := ep.TryReceive(batch); k > 0; k = ep.TryReceive(batch) {
					for j := range batch[:k] {
						f := &batch[j]
						i := payloadIndex(f)
						if f.Hash != want[i] {
							t.Errorf("frame %d (%v): hash %#x, want %#x", i, kinds[i%uint64(len(kinds))], f.Hash, want[i])
						}
						if packet.Parse(f.Data, &tuple) != packet.OK {
							t.Fatalf("frame %d does not parse", i)
						}
						if id := Lookup(w.table, &tuple, want[i]); id != ep.ID() {
							t.Errorf("frame %d on endpoint %d, want %d", i, ep.ID(), id)
						}
						seen++
					}
					ep.Release(batch[:k])
				}
			}
			if seen != n {
				t.Errorf("received %d frames, want %d", seen, n)
			}
			w.collectReturns()
			w.flush()
			q := l.d.Stats().Queues[0]
			if q.HashNIC != rounds*tt.nic || q.HashSoftware != rounds*tt.software || q.Delivered != uint64(n) {
				t.Errorf("stats: hash nic %d software %d delivered %d; want %d, %d, %d",
					q.HashNIC, q.HashSoftware, q.Delivered, rounds*tt.nic, rounds*tt.software, n)
			}
			wantMode := tt.mode
			if wantMode == "" {
				wantMode = HashToeplitz
			}
			if l.d.HashMode() != wantMode {
				t.Errorf("HashMode() = %q, want %q", l.d.HashMode(), wantMode)
			}
			if err := l.d.CheckFrames(); err != nil {
				t.Error(err)
			}
		})
	}
}

// tzHash is the software hash of frame f.
func (d *Dataplane) tzHash(t testing.TB, f []byte) uint32 {
	t.Helper()
	var tuple packet.Tuple
	h, reason := ParseAndHash(d.tz, f, &tuple)
	if reason != packet.OK {
		t.Fatalf("frame does not parse: %v", reason)
	}
	return h
}

// TestWorkerMalformedNotHashed: a frame that does not parse counts in
// neither hash counter, with or without valid metadata.
func TestWorkerMalformedNotHashed(t *testing.T) {
	l, w, _ := hashLab(t, HashNIC)
	f, nic := hashFrame(1)
	injectKind(l.set[0], f[:20], metaValid, nic)
	injectKind(l.set[0], f[:20], metaNone, nic)
	w.poll()
	q := l.d.Stats().Queues[0]
	if q.HashNIC != 0 || q.HashSoftware != 0 || q.MalformedTotal() != 2 {
		t.Errorf("hash nic %d software %d malformed %d; want 0, 0, 2", q.HashNIC, q.HashSoftware, q.MalformedTotal())
	}
}

func TestBadHashConfig(t *testing.T) {
	for _, h := range []string{"NIC", "software", "rss", " nic"} {
		set, err := rxqtest.NewSet(1, rxqtest.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(Config{Sources: rxqtest.Sources(set), Hash: h})
		if !errors.Is(err, ErrBadHash) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(Hash %q): %v, want ErrBadHash", h, err)
		}
		set[0].Close()
	}
}

// TestWorkerNICHashAllocs: the nic mode's worker round allocates nothing.
func TestWorkerNICHashAllocs(t *testing.T) {
	l, w, eps := hashLab(t, HashNIC)
	batch := make([]Frame, rxq.BatchSize)
	frames := make([][]byte, rxq.BatchSize)
	nics := make([]uint32, rxq.BatchSize)
	for i := range frames {
		frames[i], nics[i] = hashFrame(i)
	}
	round := func() {
		for i, f := range frames {
			injectKind(l.set[0], f, metaKind(i%2), nics[i])
		}
		w.poll()
		releaseAll(eps, batch)
		w.collectReturns()
		w.flush()
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Errorf("worker round (nic hash): %v allocs, want 0", allocs)
	}
}

// BenchmarkWorkerHash is BenchmarkWorkerBatch's classify+deliver under each
// hash source, on 64 frames to a group of 4 members: "toeplitz" hashes
// every frame in software, "nic" takes every frame's hash from its
// metadata. Both rewrite the metadata before each batch (ReadMeta clears
// it), so they differ only in where the hash comes from.
func BenchmarkWorkerHash(b *testing.B) {
	for _, mode := range []string{HashToeplitz, HashNIC} {
		b.Run(mode, func(b *testing.B) {
			l, w, _ := hashLab(b, mode)
			for i := range rxq.BatchSize {
				f, nic := hashFrame(i)
				injectKind(l.set[0], f, metaValid, nic)
			}
			descs := make([]rxq.Desc, rxq.BatchSize)
			n := l.set[0].Receive(descs)
			metas := make([]rxq.NICHash, n)
			umem := l.set[0].UMEM()
			for i := range metas {
				metas[i] = rxq.ReadMeta(umem, descs[i].Addr)
			}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				for i := range metas {
					rxq.PutMeta(umem, descs[i].Addr, metas[i])
				}
				w.processBatch(descs[:n])
				resetRings(w)
			}
			report(b, n, time.Since(start))
		})
	}
}
