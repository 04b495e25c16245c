// Package serving holds the little that the example servers (dnsserver,
// h3server, httpserver) do alike around the dataplane, none of the
// dataplane itself: reading the -queues flag, and serving until SIGINT,
// SIGTERM or a failed member. How each example opens its interface, binds
// its endpoints and serves on them stays in the example, where a reader
// looks for it.
package serving
