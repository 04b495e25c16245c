// Package pktsock is the project's one AF_PACKET sender: a send-only
// AF_PACKET socket bound to one interface that transmits whole Ethernet
// frames through the kernel's qdisc and driver (dev_queue_xmit), not
// through AF_XDP. It receives nothing (protocol 0).
//
// Two users share it: netstackep's fallback transmit path (Send, one frame
// at a time, while a dataplane endpoint cannot send on its queue's AF_XDP
// TX ring) and bench/txgen's AF_PACKET backend (SendBatch: sendmmsg over
// a MsgBatch built once, no allocation per send).
//
// It sits beside dataplane's other packages, not under an internal/
// directory, so that bench/ may import it; its unsafe code is in
// mmsg_unsafe_linux.go. It is Linux-only: elsewhere the package is empty.
package pktsock
