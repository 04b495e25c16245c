package rxq

import "path/filepath"

// SysfsRXQueues returns the number of receive queues of the interface
// ifname in the calling thread's network namespace, as sysfs lists them
// (/sys/class/net/IF/queues/rx-N), for when netlink does not report it
// (IFLA_NUM_RX_QUEUES 0); 0 when the interface is unknown. It is the one
// place the project reads that directory.
func SysfsRXQueues(ifname string) int {
	if ifname == "" || filepath.Base(ifname) != ifname {
		return 0
	}
	m, _ := filepath.Glob(filepath.Join("/sys/class/net", ifname, "queues", "rx-*"))
	return len(m)
}
