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
// so the lab is quiet and every frame can be counted. Permanent
// neighbour entries exist both ways, so no ARP is needed, though ARP still
// works (the XDP program passes it).
//
// Namespace switching is per OS thread: InRecv and InSend lock the calling
// goroutine's thread, switch it, run fn, and switch back; a thread that
// cannot be switched back stays locked and dies with its goroutine. Close
// deletes both namespaces; Cleanup removes those left by crashed runs.
// Everything here needs root.
package netlab
