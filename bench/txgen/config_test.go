package txgen

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func goodConfig() Config {
	return Config{
		Ifname: "eth0",
		Dst:    netip.MustParseAddrPort("198.18.0.2:9"),
		Src:    netip.MustParsePrefix("198.18.0.1/32"),
		DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Config)
		want   error  // nil: valid
		substr string // in the message
	}{
		{"defaults", func(*Config) {}, nil, ""},
		{"no interface", func(c *Config) { c.Ifname = "" }, ErrBadConfig, "interface"},
		{"bad interface", func(c *Config) { c.Ifname = "a/b" }, ErrBadConfig, `"a/b"`},
		{"dst outside range", func(c *Config) { c.Dst = netip.MustParseAddrPort("10.0.0.1:9") }, ErrDstOutsideBenchRange, "10.0.0.1"},
		{"dst just outside", func(c *Config) { c.Dst = netip.MustParseAddrPort("198.20.0.1:9") }, ErrDstOutsideBenchRange, "198.18.0.0/15"},
		{"dst outside allowed", func(c *Config) {
			c.Dst = netip.MustParseAddrPort("10.0.0.1:9")
			c.AllowAnyDst = true
		}, nil, ""},
		{"dst upper end", func(c *Config) { c.Dst = netip.MustParseAddrPort("198.19.255.254:9") }, nil, ""},
		{"dst v4-mapped", func(c *Config) { c.Dst = netip.MustParseAddrPort("[::ffff:198.18.0.2]:9") }, nil, ""},
		{"dst ipv6 outside range", func(c *Config) { c.Dst = netip.MustParseAddrPort("[2001:db8::1]:9") }, ErrDstOutsideBenchRange, "2001:2::/48"},
		{"dst ipv6 just outside", func(c *Config) { c.Dst = netip.MustParseAddrPort("[2001:2:1::1]:9") }, ErrDstOutsideBenchRange, "2001:2:1::1"},
		{"dst ipv6", func(c *Config) { c.Dst, c.Src = netip.MustParseAddrPort("[2001:2:0:7::2]:9"), netip.Prefix{} }, nil, ""},
		{"dst ipv6, src ipv6", func(c *Config) {
			c.Dst = netip.MustParseAddrPort("[2001:2:0:7::2]:9")
			c.Src = netip.MustParsePrefix("2001:2:0:7::100/120")
		}, nil, ""},
		{"dst ipv6, src ipv4", func(c *Config) {
			c.Dst = netip.MustParseAddrPort("[2001:2:0:7::2]:9")
			c.Src = netip.MustParsePrefix("198.18.0.1/32")
		}, ErrBadConfig, "want an IPv6 prefix"},
		{"dst ipv6, size small", func(c *Config) {
			c.Dst, c.Src = netip.MustParseAddrPort("[2001:2:0:7::2]:9"), netip.Prefix{}
			c.Size = MinSize6 - 1
		}, ErrBadConfig, "size 77"},
		{"dst zone", func(c *Config) { c.Dst = netip.MustParseAddrPort("[fe80::1%eth0]:9") }, ErrBadConfig, "fe80::1%eth0"},
		{"dst unset", func(c *Config) { c.Dst = netip.AddrPort{} }, ErrBadConfig, "destination"},
		{"dst port 0", func(c *Config) { c.Dst = netip.MustParseAddrPort("198.18.0.2:0") }, ErrBadConfig, "port 0"},
		{"flows negative", func(c *Config) { c.Flows = -1 }, ErrBadConfig, "flows -1"},
		{"flows too many", func(c *Config) { c.Flows = MaxFlows + 1 }, ErrBadConfig, "flows 1048577"},
		{"flows beyond ports", func(c *Config) { c.Flows = NumSrcPorts + 1 }, ErrBadConfig, "198.18.0.1/32"},
		{"flows over /24", func(c *Config) {
			c.Src = netip.MustParsePrefix("198.18.1.0/24")
			c.Flows = NumSrcPorts + 1
		}, nil, ""},
		{"src ipv6", func(c *Config) { c.Src = netip.MustParsePrefix("2001:db8::/64") }, ErrBadConfig, "2001:db8::/64"},
		{"src ipv4-mapped", func(c *Config) { c.Src = netip.MustParsePrefix("::ffff:198.18.0.1/128") }, nil, ""},
		{"size small", func(c *Config) { c.Size = 59 }, ErrBadConfig, "size 59"},
		{"size huge", func(c *Config) { c.Size = 70000 }, ErrBadConfig, "size 70000"},
		{"size negative", func(c *Config) { c.Size = -5 }, ErrBadConfig, "size -5"},
		{"rate negative", func(c *Config) { c.Rate = -1 }, ErrBadConfig, "rate -1"},
		{"rate NaN", func(c *Config) { c.Rate = math.NaN() }, ErrBadConfig, "rate NaN"},
		{"rate inf", func(c *Config) { c.Rate = math.Inf(1) }, ErrBadConfig, "rate +Inf"},
		{"duration negative", func(c *Config) { c.Duration = -1 }, ErrBadConfig, "duration"},
		{"queue negative", func(c *Config) { c.Queues = []int{0, -1} }, ErrBadConfig, "queue -1"},
		{"queue twice", func(c *Config) { c.Queues = []int{1, 1} }, ErrBadConfig, "queue 1 given twice"},
		{"backend unknown", func(c *Config) { c.Backend = 7 }, ErrBadConfig, "backend 7"},
		{"dst mac short", func(c *Config) { c.DstMAC = net.HardwareAddr{1, 2, 3} }, ErrBadConfig, "01:02:03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goodConfig()
			tt.mod(&c)
			err := c.check()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("check: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("check: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("check: %q does not name %q", err, tt.substr)
			}
			// New validates before touching the system.
			if _, err := New(c); !errors.Is(err, tt.want) {
				t.Errorf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := goodConfig()
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	if c.Flows != DefaultFlows || c.Size != DefaultSize {
		t.Errorf("flows %d size %d, want %d %d", c.Flows, c.Size, DefaultFlows, DefaultSize)
	}
}

func TestParseBackend(t *testing.T) {
	for _, b := range []Backend{Auto, AFXDP, AFPacket} {
		got, err := ParseBackend(b.String())
		if err != nil || got != b {
			t.Errorf("ParseBackend(%q) = %v, %v, want %v", b, got, err, b)
		}
	}
	if _, err := ParseBackend("dpdk"); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "dpdk") {
		t.Errorf("ParseBackend(dpdk) error %v", err)
	}
}

func TestSrcAddrs(t *testing.T) {
	tests := []struct {
		prefix string
		n      uint64
		first  string
		last   string
	}{
		{"198.18.0.7/32", 1, "198.18.0.7", "198.18.0.7"},
		{"198.18.0.6/31", 2, "198.18.0.6", "198.18.0.7"},
		{"198.18.0.4/30", 2, "198.18.0.5", "198.18.0.6"},
		{"198.18.1.0/24", 254, "198.18.1.1", "198.18.1.254"},
		{"198.18.0.0/15", 1<<17 - 2, "198.18.0.1", "198.19.255.254"},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		n := srcAddrs(p)
		if n != tt.n {
			t.Errorf("srcAddrs(%s) = %d, want %d", p, n, tt.n)
			continue
		}
		if a := netip.AddrFrom4(srcAddr(p, 0)).String(); a != tt.first {
			t.Errorf("first of %s = %s, want %s", p, a, tt.first)
		}
		if a := netip.AddrFrom4(srcAddr(p, n-1)).String(); a != tt.last {
			t.Errorf("last of %s = %s, want %s", p, a, tt.last)
		}
	}
	for _, tt := range []struct {
		prefix      string
		n           uint64
		first, last string
	}{
		{"2001:2::7/128", 1, "2001:2::7", "2001:2::7"},
		{"2001:2::100/120", 256, "2001:2::100", "2001:2::1ff"},
		{"2001:2:0:1::/64", 1 << 24, "2001:2:0:1::", "2001:2:0:1::ff:ffff"},
	} {
		p := netip.MustParsePrefix(tt.prefix)
		n := srcAddrs(p)
		if n != tt.n {
			t.Errorf("srcAddrs(%s) = %d, want %d", p, n, tt.n)
			continue
		}
		if a := netip.AddrFrom16(srcAddr6(p, 0)).String(); a != tt.first {
			t.Errorf("first of %s = %s, want %s", p, a, tt.first)
		}
		if a := netip.AddrFrom16(srcAddr6(p, n-1)).String(); a != tt.last {
			t.Errorf("last of %s = %s, want %s", p, a, tt.last)
		}
	}
}
