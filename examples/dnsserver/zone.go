package main

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Zone is the name the server is authoritative for.
const Zone = "example.test."

// records is the zone's content: A and AAAA records of a few names, in
// 198.18.0.0/15 and 2001:2:0:c8::/64, inside the IPv6 benchmarking range.
var records = map[string][]netip.Addr{
	"example.test.":      {netip.MustParseAddr("198.18.200.1"), netip.MustParseAddr("2001:2:0:c8::1")},
	"www.example.test.":  {netip.MustParseAddr("198.18.200.2"), netip.MustParseAddr("198.18.200.3"), netip.MustParseAddr("2001:2:0:c8::2")},
	"ns.example.test.":   {netip.MustParseAddr("198.18.200.53"), netip.MustParseAddr("2001:2:0:c8::53")},
	"mail.example.test.": {netip.MustParseAddr("198.18.200.25")},
	"v6.example.test.":   {netip.MustParseAddr("2001:2:0:c8::6")},
}

// ttl of every answer, in seconds.
const ttl = 300

// answer fills m, a reply to r: the A or AAAA records of the question's
// name; NOERROR without answers for a name of the zone without records of
// that type; NXDOMAIN for another name in the zone; REFUSED outside it.
func answer(m, r *dns.Msg) {
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(Zone, name) {
		m.Authoritative = false
		m.Rcode = dns.RcodeRefused
		return
	}
	addrs, ok := records[name]
	if !ok {
		m.Rcode = dns.RcodeNameError
		return
	}
	if q.Qclass != dns.ClassINET {
		return
	}
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: ttl}
		switch {
		case a.Is4() && q.Qtype == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		case a.Is6() && q.Qtype == dns.TypeAAAA:
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
		}
	}
}

// handler answers every query from the zone.
func handler(w dns.ResponseWriter, r *dns.Msg) {
	var m dns.Msg
	answer(&m, r)
	_ = w.WriteMsg(&m)
}
