// Package netlab builds the throwaway network lab that xdpmux's privileged
// tests, the demo and the benchmarks run in: two network namespaces joined
// by a veth pair with N rx/tx queues.
//
//	SendNS                                 RecvNS
//	SendIf 198.18.X.1/24  ══ veth ══►  RecvIf 198.18.X.2/24  ◄─ XDP + AF_XDP
//
// On veth each packet arrives on the RX queue matching the TX queue the
// sender picked by flow hash, so traffic from varied source ports (SendUDP)
// spreads over all queues of RecvIf, as RSS would on a real NIC.
//
// Names carry the process id and a random suffix: namespaces
// PREFIX-PID-RAND-r and PREFIX-PID-RAND-s, interfaces PREFIXRANDr and
// PREFIXRANDs (at most 13 characters). X is random. Traffic uses only
// 198.18.0.0/15 (benchmarking range); IPv6 is disabled in both namespaces,
// so the lab is quiet and every frame can be counted. With Config.IPv6 the
// veth ends also get 2001:2:0:Y::2/64 (RecvAddr6) and 2001:2:0:Y::1/64
// (SendAddr6) of the IPv6 benchmarking range, Y random, and the lab stays
// quiet: no router solicitations, autoconfiguration or duplicate address
// detection (each end has its link-local address too, which the kernel
// needs to send neighbour solicitations). Permanent neighbour entries exist both
// ways for every address, so no ARP or neighbour discovery is needed,
// though both still work (the XDP program passes them to the kernel).
//
// Namespace switching is per OS thread: InRecv and InSend lock the calling
// goroutine's thread, switch it, run fn, and switch back; a thread that
// cannot be switched back stays locked and dies with its goroutine. Close
// deletes both namespaces; Cleanup removes those left by crashed runs.
// Everything here needs root.
package netlab
