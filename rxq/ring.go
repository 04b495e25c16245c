package rxq

import (
	"fmt"
	"sync/atomic"

	"github.com/xdpmux/xdpmux/rxq/internal"
)

// RingOffsets locates a ring's shared words and descriptor array inside its
// mapping, as struct xdp_ring_offset (XDP_MMAP_OFFSETS) does.
type RingOffsets struct {
	Producer uint64
	Consumer uint64
	Flags    uint64
	Desc     uint64
}

// MemRing lays out a ring of size entries of descSize bytes in ordinary
// memory, the way the kernel lays one out in its mapping (each shared word
// on its own cache line). It returns the memory and the offsets to pass to
// NewFillQueue, NewRXQueue, NewTXQueue or NewCompletionQueue; two queues of
// opposite roles built over the same memory talk to each other, which is how
// tests and in-memory sources stand in for the kernel.
func MemRing(size, descSize uint32) ([]byte, RingOffsets) {
	off := RingOffsets{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}
	return internal.AlignedBytes(int(off.Desc) + int(size)*int(descSize)), off
}

// ring is the state one side of a single-producer single-consumer ring
// keeps: pointers to the two shared indices and the flags word, and cached
// copies of both indices.
//
// The indices are free-running uint32 counters; an entry's slot is
// index & mask. The producer writes only the producer index, the consumer
// only the consumer index. The memory ordering follows the kernel's
// net/xdp/xsk_queue.h (and libxdp's xsk.h):
//
//	producer: load consumer (acquire) -> write descs -> store producer (release)
//	consumer: load producer (acquire) -> read descs  -> store consumer (release)
//
// Go's sync/atomic loads and stores are sequentially consistent, which is
// at least acquire and release.
type ring struct {
	producer *atomic.Uint32 // written by the producer side only
	consumer *atomic.Uint32 // written by the consumer side only
	flags    *atomic.Uint32 // written by the kernel: XDP_RING_NEED_WAKEUP
	mask     uint32
	size     uint32

	// Producer side: prod is the next index to reserve, pub what was last
	// published in *producer; cons a cached copy of *consumer.
	// Consumer side: cons is the next index to take, pub what was last
	// published in *consumer; prod a cached copy of *producer.
	prod uint32
	cons uint32
	pub  uint32
}

func isPow2(n uint32) bool { return n != 0 && n&(n-1) == 0 }

func newRing(mem []byte, off RingOffsets, size uint32) (ring, error) {
	var r ring
	if !isPow2(size) {
		return r, fmt.Errorf("ring size %d: %w", size, ErrNotPowerOfTwo)
	}
	var err error
	if r.producer, err = internal.Uint32At(mem, off.Producer); err != nil {
		return r, err
	}
	if r.consumer, err = internal.Uint32At(mem, off.Consumer); err != nil {
		return r, err
	}
	if r.flags, err = internal.Uint32At(mem, off.Flags); err != nil {
		return r, err
	}
	r.size, r.mask = size, size-1
	return r, nil
}

// side says which end of a ring user space holds.
type side bool

const (
	producerSide side = true  // fill, TX: user space produces
	consumerSide side = false // RX, completion: user space consumes
)

// newRingOf builds a ring over mem with its entries (frame addresses or
// descriptors) as a []T, its cached indices loaded for the given side.
func newRingOf[T any](mem []byte, off RingOffsets, size uint32, s side) (ring, []T, error) {
	r, err := newRing(mem, off, size)
	if err != nil {
		return r, nil, err
	}
	entries, err := internal.SliceAt[T](mem, off.Desc, size)
	if err != nil {
		return r, nil, err
	}
	if s == producerSide {
		r.initProducer()
	} else {
		r.initConsumer()
	}
	return r, entries, nil
}

// initProducer and initConsumer load the shared indices into the caches;
// a ring is built over memory that may already hold entries.
func (r *ring) initProducer() {
	r.prod = r.producer.Load()
	r.pub = r.prod
	r.cons = r.consumer.Load()
}

func (r *ring) initConsumer() {
	r.cons = r.consumer.Load()
	r.pub = r.cons
	r.prod = r.producer.Load()
}

// reserve claims up to n free slots for the producer and returns the index
// of the first and how many it got.
func (r *ring) reserve(n uint32) (uint32, uint32) {
	free := r.size - (r.prod - r.cons)
	if free < n {
		// Acquire: the consumer's reads of the slots it released happen
		// before we overwrite them (xsk_queue.h xskq_prod_nb_free).
		r.cons = r.consumer.Load()
		free = r.size - (r.prod - r.cons)
	}
	n = min(n, free)
	idx := r.prod
	r.prod += n
	return idx, n
}

// submit publishes n reserved entries, in reservation order.
func (r *ring) submit(n uint32) {
	r.pub += n
	// Release: the descriptors written before are visible to a consumer
	// that observes the new producer index (xskq_prod_submit).
	r.producer.Store(r.pub)
}

// peek returns the index of the first entry ready for the consumer and how
// many (up to n) are ready; the entries are taken (cons advances).
func (r *ring) peek(n uint32) (uint32, uint32) {
	ready := r.prod - r.cons
	if ready < n {
		// Acquire: the producer's descriptor writes are visible once we
		// see its index (xskq_cons_peek_desc / __xskq_cons_peek).
		r.prod = r.producer.Load()
		ready = r.prod - r.cons
	}
	n = min(n, ready)
	idx := r.cons
	r.cons += n
	return idx, n
}

// release gives n taken entries back to the producer.
func (r *ring) release(n uint32) {
	r.pub += n
	// Release: our reads of the slots happen before the producer reuses
	// them (xskq_cons_release).
	r.consumer.Store(r.pub)
}

// needWakeup reports whether the kernel asks to be kicked.
func (r *ring) needWakeup() bool {
	return r.flags.Load()&xdpRingNeedWakeup != 0
}

// ready reports, for the consumer side, whether an entry is waiting: taken
// into the cache by an earlier peek of fewer entries, or newly published.
func (r *ring) ready() bool {
	return r.prod != r.cons || r.producer.Load() != r.cons
}

// entries is the number of entries between the two shared indices: in the
// ring, published and not yet released.
func (r *ring) entries() int {
	return int(r.producer.Load() - r.consumer.Load())
}

// xdpRingNeedWakeup mirrors XDP_RING_NEED_WAKEUP.
const xdpRingNeedWakeup = 1
