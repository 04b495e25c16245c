package rxq

// FillEmpty returns the kernel's count of frames the socket lost because
// its fill ring was empty when they arrived (XDP_STATISTICS
// rx_fill_ring_empty_descs), or 0 once the socket is closed or if the
// kernel does not answer. It makes a getsockopt call: it is for the control
// path (the dataplane's Stats), not for the worker's loop. Any goroutine
// may call it.
func (s *Socket) FillEmpty() uint64 {
	st, err := s.Stats()
	if err != nil {
		return 0
	}
	return st.RxFillRingEmptyDescs
}

// The dataplane's Stats looks for this method on its sources.
var _ interface{ FillEmpty() uint64 } = (*Socket)(nil)
