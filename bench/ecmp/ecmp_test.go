package ecmp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// envPrivileged names the environment variable that, set to "1", says
// privileged tests (and the tools they need) must run: a skip is a failure.
const envPrivileged = "XDPMUX_PRIVILEGED"

func TestCompareMoves(t *testing.T) {
	p := func(hosts ...int) []Placement {
		out := make([]Placement, len(hosts))
		for i, h := range hosts {
			out[i] = Placement{Host: h, Member: "m"}
		}
		return out
	}
	tests := []struct {
		name          string
		before, after []Placement
		want          Moves
		wantErr       bool
	}{
		{"ideal", p(0, 1, 2, 2, 1, 0), p(0, 1, 0, 1, 1, 0), Moves{Flows: 6, OnLeaving: 2, Moved: 2}, false},
		{"staying moved", p(0, 1, 2, 2, 1, 0), p(0, 0, 0, 1, 1, 1), Moves{Flows: 6, OnLeaving: 2, Moved: 4, MovedStaying: 2}, false},
		{"none on leaving", p(0, 1), p(0, 1), Moves{Flows: 2}, false},
		{"still on leaving", p(0, 2), p(0, 2), Moves{}, true},
		{"lengths differ", p(0, 1), p(0), Moves{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompareMoves(tt.before, tt.after, 2)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	m := Moves{Flows: 1000, OnLeaving: 340, Moved: 502, MovedStaying: 162}
	if got, want := m.Share(), 0.502; got != want {
		t.Errorf("Share() = %v, want %v", got, want)
	}
	if got, want := m.Ideal(), 0.34; got != want {
		t.Errorf("Ideal() = %v, want %v", got, want)
	}
	if got, want := m.StayingShare(), 162.0/660; got != want {
		t.Errorf("StayingShare() = %v, want %v", got, want)
	}
	if got := (Moves{}).StayingShare(); got != 0 {
		t.Errorf("empty StayingShare() = %v, want 0", got)
	}
}

func TestPerHost(t *testing.T) {
	got := PerHost([]Placement{{Host: 0}, {Host: 2}, {Host: 2}, {Host: 5}, {Host: -1}}, 3)
	if want := []uint64{1, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseRoutePaths(t *testing.T) {
	host := func(dev string) (int, bool) {
		switch dev {
		case "h1":
			return 0, true
		case "h2":
			return 1, true
		case "h3":
			return 2, true
		}
		return 0, false
	}
	tests := []struct {
		name    string
		js      string
		want    []int
		wantErr bool
	}{
		// Captured from the lab's router (iproute2 6.x).
		{"multipath", `[{"dst":"198.19.255.1","protocol":"bird","metric":32,"flags":[],"nexthops":[` +
			`{"gateway":"198.18.3.2","dev":"h3","weight":1,"flags":[]},` +
			`{"gateway":"198.18.1.2","dev":"h1","weight":1,"flags":[]},` +
			`{"gateway":"198.18.2.2","dev":"h2","weight":1,"flags":[]}]}]`, []int{0, 1, 2}, false},
		{"one path", `[{"dst":"198.19.255.1","gateway":"198.18.2.2","dev":"h2","protocol":"bird","metric":32,"flags":[]}]`,
			[]int{1}, false},
		{"no route", `[]`, nil, false},
		{"not bird", `[{"dst":"198.19.255.1","gateway":"198.18.2.2","dev":"h2","protocol":"static","flags":[]}]`, nil, true},
		{"unknown dev", `[{"dst":"198.19.255.1","gateway":"198.18.0.2","dev":"cl0","protocol":"bird","flags":[]}]`, nil, true},
		{"garbage", `Error`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRoutePaths([]byte(tt.js), host)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDiffOne(t *testing.T) {
	a := []map[string]uint64{{"a#0": 5, "a#1": 2}, nil, {"c#0": 1}}
	tests := []struct {
		name  string
		b     []map[string]uint64
		want  Placement
		wantN uint64
	}{
		{"none", a, Placement{}, 0},
		{"one", []map[string]uint64{{"a#0": 5, "a#1": 2}, nil, {"c#0": 2}}, Placement{Host: 2, Member: "c#0"}, 1},
		{"restarted host", []map[string]uint64{{"a#0": 5, "a#1": 2}, {"b#3": 1}, {"c#0": 1}}, Placement{Host: 1, Member: "b#3"}, 1},
		{"two", []map[string]uint64{{"a#0": 6, "a#1": 3}, nil, {"c#0": 1}}, Placement{}, 2},
		{"host stopped", []map[string]uint64{{"a#0": 5, "a#1": 2}, nil, nil}, Placement{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := diffOne(a, tt.b)
			if n != tt.wantN {
				t.Fatalf("n = %d, want %d", n, tt.wantN)
			}
			if n == 1 && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBIRDConfigs(t *testing.T) {
	host := HostBIRDConfig(netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.1"), netip.MustParsePrefix("198.19.255.1/32"))
	router := RouterBIRDConfig(RouterAddr, ServiceRange, []Neighbor{
		{Name: "h1", Local: netip.MustParseAddr("198.18.1.1"), Peer: netip.MustParseAddr("198.18.1.2")},
		{Name: "h2", Local: netip.MustParseAddr("198.18.2.1"), Peer: netip.MustParseAddr("198.18.2.2")},
	})
	tests := []struct {
		name, config string
		want         []string
	}{
		{"host", host, []string{
			"router id 198.18.1.2;",
			"protocol static service {",
			"route 198.19.255.1/32 unreachable;",
			"local 198.18.1.2 as 65001;",
			"neighbor 198.18.1.1 as 65000;",
			`export where proto = "service";`,
			"import none;",
			"next hop self;",
		}},
		{"router", router, []string{
			"router id 198.18.0.1;",
			"merge paths yes",
			"if net ~ [ 198.19.255.0/24{32,32} ] then accept;",
			"import filter service_only;",
			"export none;",
			"protocol bgp h1 from hosts {\n\tsource address 198.18.1.1;\n\tneighbor 198.18.1.2 as 65001;",
			"protocol bgp h2 from hosts {\n\tsource address 198.18.2.1;\n\tneighbor 198.18.2.2 as 65001;",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				if !strings.Contains(tt.config, w) {
					t.Errorf("config lacks %q:\n%s", w, tt.config)
				}
			}
			// BIRD itself must accept it (bird -p parses and exits).
			if _, err := exec.LookPath("bird"); err != nil {
				if os.Getenv(envPrivileged) == "1" {
					t.Fatalf("needs bird (apt-get install bird2) and %s=1 is set", envPrivileged)
				}
				t.Skip("needs bird (apt-get install bird2) to parse the configuration")
			}
			path := filepath.Join(t.TempDir(), tt.name+".conf")
			if err := os.WriteFile(path, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("bird", "-p", "-c", path).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("bird -p: %v: %s", err, out)
			}
		})
	}
}

// TestScriptConfigs checks that scripts/ecmp-lab.sh writes the same BIRD
// configurations as HostBIRDConfig and RouterBIRDConfig.
func TestScriptConfigs(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	const hosts = 3
	var nbrs []Neighbor
	for i := 1; i <= hosts; i++ {
		nbrs = append(nbrs, Neighbor{Name: fmt.Sprintf("h%d", i),
			Local: netip.AddrFrom4([4]byte{198, 18, byte(i), 1}), Peer: netip.AddrFrom4([4]byte{198, 18, byte(i), 2})})
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"config", "router"}, RouterBIRDConfig(RouterAddr, ServiceRange, nbrs)},
		{[]string{"config", "host", "1"}, HostBIRDConfig(nbrs[0].Peer, nbrs[0].Local, netip.PrefixFrom(Service, 32))},
		{[]string{"config", "host", "3"}, HostBIRDConfig(nbrs[2].Peer, nbrs[2].Local, netip.PrefixFrom(Service, 32))},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"../../scripts/ecmp-lab.sh"}, tt.args...)
			out, err := exec.Command("bash", append(args, "-H", fmt.Sprint(hosts))...).Output()
			if err != nil {
				t.Fatalf("ecmp-lab.sh %v: %v", tt.args, err)
			}
			if got := string(out); got != tt.want {
				t.Errorf("ecmp-lab.sh %v differs from the Go configuration:\n--- got\n%s\n--- want\n%s", tt.args, got, tt.want)
			}
		})
	}
}
