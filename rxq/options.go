package rxq

import "fmt"

// ZeroCopy is the policy for the XDP_ZEROCOPY bind flag.
type ZeroCopy int

const (
	// ZeroCopyAuto asks for zero-copy and falls back to copy mode when the
	// driver does not support it.
	ZeroCopyAuto ZeroCopy = iota
	// ZeroCopyForce fails (ErrNotSupported) without zero-copy.
	ZeroCopyForce
	// ZeroCopyOff binds in copy mode.
	ZeroCopyOff
)

func (z ZeroCopy) String() string {
	switch z {
	case ZeroCopyAuto:
		return "auto"
	case ZeroCopyForce:
		return "force"
	case ZeroCopyOff:
		return "off"
	}
	return fmt.Sprintf("ZeroCopy(%d)", int(z))
}

// Mode is how a socket is bound.
type Mode int

const (
	ModeCopy     Mode = iota // XDP_COPY: the kernel copies each frame into the UMEM
	ModeZeroCopy             // XDP_ZEROCOPY: the driver DMAs into the UMEM
)

func (m Mode) String() string {
	if m == ModeZeroCopy {
		return "zerocopy"
	}
	return "copy"
}

// SocketOptions configures NewSocket.
type SocketOptions struct {
	// NumFrames is the number of UMEM frames the socket owns; a power of
	// two. With SharedUMEM, they are taken from the other socket's free
	// frames.
	NumFrames int
	// FrameSize is 2048 or 4096 bytes.
	FrameSize int
	// Headroom is user headroom reserved before each received packet, on
	// top of the kernel's XDP_PACKET_HEADROOM in copy mode.
	Headroom int
	// Ring sizes, in entries, powers of two. TXRingSize 0 means no TX ring:
	// a receive-only socket (in copy mode, a bound TX ring makes every
	// poll try to transmit).
	FillRingSize       int
	CompletionRingSize int
	RXRingSize         int
	TXRingSize         int
	// ZeroCopy is the zero-copy policy.
	ZeroCopy ZeroCopy
	// NeedWakeup binds with XDP_USE_NEED_WAKEUP: the kernel sets a flag
	// when it needs a syscall to make progress, and no syscall is made
	// otherwise.
	NeedWakeup bool
	// BusyPoll makes Wait return at once instead of parking on the Go
	// netpoller: the worker spins on its rings.
	BusyPoll bool
	// Kernel busy polling, for NICs (docs/OPERATIONS.md, "Busy polling
	// on a NIC"): PreferBusyPoll sets SO_PREFER_BUSY_POLL, BusyPollUs
	// SO_BUSY_POLL (how long, in µs, each of the socket's recvfrom/sendto
	// busy-polls the device queue) and BusyPollBudget SO_BUSY_POLL_BUDGET
	// (packets per busy-poll round; 0: the kernel's default). With any of
	// them set, Wait makes a recvfrom (one busy-poll round) before it
	// parks. The kernel's AF_XDP documentation pairs them with the
	// device's napi_defer_hard_irqs and gro_flush_timeout, which keep its
	// interrupts off while the application polls.
	PreferBusyPoll bool
	BusyPollUs     int
	BusyPollBudget int
	// SharedUMEM, when set, binds this socket with XDP_SHARED_UMEM on that
	// socket's UMEM (another queue of the same device, or the same queue).
	// This socket gets its own fill and completion rings. The other socket
	// must be at rest (its worker not running) during NewSocket.
	SharedUMEM *Socket
}

// DefaultSocketOptions returns the options for a receive-only socket in
// copy or zero-copy mode (whichever the driver gives), with need-wakeup.
func DefaultSocketOptions() SocketOptions {
	return SocketOptions{
		NumFrames:          4096,
		FrameSize:          4096,
		Headroom:           0,
		FillRingSize:       4096,
		CompletionRingSize: 2048,
		RXRingSize:         2048,
		TXRingSize:         0,
		ZeroCopy:           ZeroCopyAuto,
		NeedWakeup:         true,
	}
}

// kernelBusyPoll reports whether any kernel busy-poll option is set.
func (o *SocketOptions) kernelBusyPoll() bool {
	return o.PreferBusyPoll || o.BusyPollUs > 0 || o.BusyPollBudget > 0
}

// maxRingSize bounds ring sizes to something the kernel will map.
const maxRingSize = 1 << 20

// Validate checks the options; the error names the offending field and
// value.
func (o *SocketOptions) Validate() error {
	if err := checkPow2("NumFrames", o.NumFrames, false); err != nil {
		return err
	}
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		return fmt.Errorf("FrameSize %d: must be 2048 or 4096: %w", o.FrameSize, ErrBadOption)
	}
	// The kernel wants at least a minimal Ethernet frame to fit after both
	// headrooms.
	if o.Headroom < 0 || o.Headroom+256+128 > o.FrameSize {
		return fmt.Errorf("option Headroom %d: must be in [0, %d] for FrameSize %d: %w",
			o.Headroom, o.FrameSize-256-128, o.FrameSize, ErrBadOption)
	}
	for _, r := range []struct {
		name      string
		v         int
		zeroValid bool
	}{
		{"FillRingSize", o.FillRingSize, false},
		{"CompletionRingSize", o.CompletionRingSize, false},
		{"RXRingSize", o.RXRingSize, true},
		{"TXRingSize", o.TXRingSize, true},
	} {
		if err := checkPow2(r.name, r.v, r.zeroValid); err != nil {
			return err
		}
	}
	if o.RXRingSize == 0 && o.TXRingSize == 0 {
		return fmt.Errorf("RXRingSize and TXRingSize both 0: need at least one: %w", ErrBadOption)
	}
	if o.BusyPollUs < 0 || o.BusyPollUs > 1<<31-1 {
		return fmt.Errorf("BusyPollUs %d: must be in [0, %d]: %w", o.BusyPollUs, 1<<31-1, ErrBadOption)
	}
	if o.BusyPollBudget < 0 || o.BusyPollBudget > 1<<16-1 {
		return fmt.Errorf("BusyPollBudget %d: must be in [0, %d]: %w", o.BusyPollBudget, 1<<16-1, ErrBadOption)
	}
	switch o.ZeroCopy {
	case ZeroCopyAuto, ZeroCopyForce, ZeroCopyOff:
	default:
		return fmt.Errorf("ZeroCopy %d: unknown policy: %w", int(o.ZeroCopy), ErrBadOption)
	}
	if o.SharedUMEM != nil && o.SharedUMEM.frameSize != uint32(o.FrameSize) {
		return fmt.Errorf("FrameSize %d: differs from shared UMEM's %d: %w",
			o.FrameSize, o.SharedUMEM.frameSize, ErrBadOption)
	}
	return nil
}

func checkPow2(name string, v int, zeroValid bool) error {
	if v == 0 && zeroValid {
		return nil
	}
	if v <= 0 || v > maxRingSize*16 || v&(v-1) != 0 {
		return fmt.Errorf("%s %d: %w", name, v, ErrNotPowerOfTwo)
	}
	if name != "NumFrames" && v > maxRingSize {
		return fmt.Errorf("%s %d: above %d: %w", name, v, maxRingSize, ErrBadOption)
	}
	return nil
}
