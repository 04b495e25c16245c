package rxq

// Stats is the kernel's per-socket counters (XDP_STATISTICS).
type Stats struct {
	RxDropped            uint64 // dropped for reasons other than invalid descriptors
	RxInvalidDescs       uint64 // dropped: invalid descriptor
	TxInvalidDescs       uint64 // invalid descriptors on the TX ring
	RxRingFull           uint64 // dropped: the RX ring was full
	RxFillRingEmptyDescs uint64 // times the fill ring was empty when a frame arrived
	TxRingEmptyDescs     uint64 // times the TX ring was empty when the kernel looked
}
