package lab

import (
	"errors"
	"testing"
)

const procStat = `cpu  10132153 290696 3084719 46828483 16683 0 25195 7 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
cpu1 1335091 33393 555424 13364810 3720 0 5012 7 0 0
intr 1462898 0 0 0
ctxt 2120 0
btime 1700000000
`

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    CPUTimes
		wantErr bool
	}{
		{"full", procStat, CPUTimes{
			Busy: 10132153 + 290696 + 3084719 + 0 + 25195 + 7,
			Idle: 46828483 + 16683,
		}, false},
		{"old kernel, 4 columns", "cpu 1 2 3 4\n", CPUTimes{Busy: 6, Idle: 4}, false},
		{"no cpu line", "cpu0 1 2 3 4\nintr 5\n", CPUTimes{}, true},
		{"short", "cpu 1 2\n", CPUTimes{}, true},
		{"garbage", "cpu 1 x 3 4 5\n", CPUTimes{}, true},
		{"empty", "", CPUTimes{}, true},
	}
	for _, tt := range tests {
		got, err := ParseProcStat([]byte(tt.in))
		checkParsed(t, tt.name, got, err, tt.want, tt.wantErr)
	}
}

// checkParsed reports a /proc parser's result that is not want, or an
// error that is not wanted or not ErrParse.
func checkParsed[T comparable](t *testing.T, name string, got T, err error, want T, wantErr bool) {
	t.Helper()
	if (err != nil) != wantErr {
		t.Errorf("%s: err %v, want error %v", name, err, wantErr)
		return
	}
	if err != nil && !errors.Is(err, ErrParse) {
		t.Errorf("%s: err %v is not ErrParse", name, err)
	}
	if got != want {
		t.Errorf("%s: got %+v, want %+v", name, got, want)
	}
}

func TestParseProcessStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"linux", "4242 (xdpmux-latency) S 1 4242 4242 0 -1 4194560 1 0 0 0 170 33 0 0 20 0 9 0 100 1 2\n", 203, false},
		{"name with spaces and parens", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0\n", 11, false},
		{"short", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 5\n", 0, true},
		{"no name", "7 a R 1 7 7 0 -1 0 0 0 0 0 5 6\n", 0, true},
		{"garbage", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x 6\n", 0, true},
		{"negative", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 -5 6\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseProcessStat([]byte(tt.in))
		checkParsed(t, tt.name, got, err, tt.want, tt.wantErr)
	}
}

// FuzzProcParsers feeds both /proc parsers hostile text: they return a
// value or ErrParse, never panic.
func FuzzProcParsers(f *testing.F) {
	f.Add([]byte(procStat))
	f.Add([]byte("4242 (x) S 1 4242 4242 0 -1 4194560 1 0 0 0 170 33 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseProcStat(b); err != nil && !errors.Is(err, ErrParse) {
			t.Fatalf("ParseProcStat: %v is not ErrParse", err)
		}
		if _, err := ParseProcessStat(b); err != nil && !errors.Is(err, ErrParse) {
			t.Fatalf("ParseProcessStat: %v is not ErrParse", err)
		}
	})
}

func TestCPUTimesArithmetic(t *testing.T) {
	a := CPUTimes{Busy: 100, Idle: 50}
	b := CPUTimes{Busy: 250, Idle: 100}
	d := b.Sub(a)
	if d != (CPUTimes{Busy: 150, Idle: 50}) {
		t.Fatalf("Sub: got %+v", d)
	}
	if got, want := d.BusyNanos(), 150*1e9/UserHZ; got != want {
		t.Errorf("BusyNanos: got %v, want %v", got, want)
	}
	if got := d.BusyShare(); got != 0.75 {
		t.Errorf("BusyShare: got %v, want 0.75", got)
	}
	if got := (CPUTimes{}).BusyShare(); got != 0 {
		t.Errorf("BusyShare of nothing: got %v, want 0", got)
	}
}

const snmp = `Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 100
Icmp: InMsgs InErrors
Icmp: 3 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 1000 5 42 7 40 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
Tcp: RtoAlgorithm MaxConn
Tcp: 1 -1
`

func TestParseSNMP(t *testing.T) {
	udp, err := ParseSNMP([]byte(snmp), "Udp")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]uint64{"InDatagrams": 1000, "NoPorts": 5, "InErrors": 42, "RcvbufErrors": 40, "MemErrors": 0} {
		if udp[k] != want {
			t.Errorf("Udp %s = %d, want %d", k, udp[k], want)
		}
	}
	tcp, err := ParseSNMP([]byte(snmp), "Tcp")
	if err != nil {
		t.Fatal(err)
	}
	if tcp["MaxConn"] != 0 || tcp["RtoAlgorithm"] != 1 {
		t.Errorf("Tcp: got %v, want MaxConn 0 (negative), RtoAlgorithm 1", tcp)
	}
	for _, tt := range []struct{ name, in, proto string }{
		{"missing section", snmp, "Sctp"},
		{"count mismatch", "Udp: A B\nUdp: 1\n", "Udp"},
		{"garbage", "Udp: A\nUdp: x\n", "Udp"},
		{"names only", "Udp: A B\n", "Udp"},
	} {
		if _, err := ParseSNMP([]byte(tt.in), tt.proto); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err %v, want ErrParse", tt.name, err)
		}
	}
}

func TestMoved(t *testing.T) {
	tests := []struct {
		name          string
		before, after map[uint16]int
		share         float64
		common        int
	}{
		{"none", nil, nil, 0, 0},
		{"same", map[uint16]int{1: 0, 2: 1}, map[uint16]int{1: 0, 2: 1}, 0, 2},
		{"one of four", map[uint16]int{1: 0, 2: 1, 3: 2, 4: 3}, map[uint16]int{1: 0, 2: 1, 3: 2, 4: 0}, 0.25, 4},
		{"lost flows left out", map[uint16]int{1: 0, 2: 1, 3: 2}, map[uint16]int{1: 1, 9: 0}, 1, 1},
		{"all moved", map[uint16]int{1: 0, 2: 1}, map[uint16]int{1: 1, 2: 0}, 1, 2},
	}
	for _, tt := range tests {
		share, common := Moved(tt.before, tt.after)
		if share != tt.share || common != tt.common {
			t.Errorf("%s: got (%v, %d), want (%v, %d)", tt.name, share, common, tt.share, tt.common)
		}
	}
}

func TestFlowOwners(t *testing.T) {
	got := FlowOwners([]map[uint16]uint32{
		{1: 3, 2: 1},
		nil,
		{2: 5, 3: 1},
		{3: 1},
	})
	want := map[uint16]int{1: 0, 2: 2, 3: 2} // 3: tie between 2 and 3, lowest index
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("flow %d: member %d, want %d", k, got[k], v)
		}
	}
}

func TestCountUDPBound(t *testing.T) {
	const udp = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0
  124: 0100007F:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0
  125: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4244 2 0000000000000000 0
`
	const udp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
   1: 00000000000000000000000000000000:2328 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5 2 0 0
`
	tests := []struct {
		name string
		in   string
		port uint16
		want int
		ok   bool
	}{
		{"two on 9000", udp, 9000, 2, true},
		{"one on 53", udp, 53, 1, true},
		{"none on 9100", udp, 9100, 0, true},
		{"ipv6", udp6, 9000, 1, true},
		{"header only", "  sl  local_address rem_address\n", 9000, 0, true},
		{"empty", "", 9000, 0, true},
		{"no port", "  sl local\n 1: 00000000 0 0\n", 9000, 0, false},
		{"bad port", "  sl local\n 1: 00000000:ZZZZ 0 0\n", 9000, 0, false},
		{"short line", "  sl local\n 1:\n", 9000, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CountUDPBound([]byte(tt.in), tt.port)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want ErrParse", err)
			}
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}
