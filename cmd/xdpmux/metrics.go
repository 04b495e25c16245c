package main

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/packet"
)

// metricsCollector is a prometheus.Collector that reads a dataplane.Stats
// snapshot (and the kernel's XDP counters) on each scrape: the data path
// never touches a metric.
type metricsCollector struct {
	stats func() dataplane.Stats
	xdp   func() ([]dataplane.QueueXDPStats, error) // nil: no XDP counters
	info  dataplane.InterfaceInfo

	qRX, qDelivered, qUnmatched, qMalformed, qRingFull, qClosedDropped, qResteered, qFillEmpty, qWaitErrors *prometheus.Desc
	epDelivered, epDropped, epQueued, groupMembers                                                          *prometheus.Desc
	qOverBudget, epOverBudget                                                                               *prometheus.Desc
	xskRxDropped, xskRxInvalid, xskRxRingFull, xskFillEmpty, xskTxInvalid, xskTxRingEmpty                   *prometheus.Desc
	progRedirected, progPassed, progDropped                                                                 *prometheus.Desc
	qHashed                                                                                                 *prometheus.Desc
}

func newCollector(stats func() dataplane.Stats, xdp func() ([]dataplane.QueueXDPStats, error), info dataplane.InterfaceInfo) *metricsCollector {
	q := []string{"queue"}
	ep := []string{"endpoint", "spec"}
	xq := []string{"queue", "if_queue"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("xdpmux_"+name, help, labels, nil)
	}
	return &metricsCollector{
		stats: stats, xdp: xdp, info: info,
		qRX:            d("queue_rx_total", "Frames the queue's worker received.", q),
		qDelivered:     d("queue_delivered_total", "Frames put on an endpoint's delivery ring.", q),
		qUnmatched:     d("queue_unmatched_total", "Frames no endpoint matched.", q),
		qMalformed:     d("queue_malformed_total", "Frames that did not parse, by reason.", []string{"queue", "reason"}),
		qRingFull:      d("queue_ring_full_total", "Frames dropped because the endpoint's delivery ring was full.", q),
		qOverBudget:    d("queue_over_budget_total", "Frames dropped because their endpoint, or its owner, held its budget of the queue's UMEM frames.", q),
		qClosedDropped: d("queue_closed_dropped_total", "Delivered frames dropped because their endpoint closed.", q),
		qResteered:     d("queue_resteered_total", "Frames moved to another group member when theirs closed (drain).", q),
		qFillEmpty:     d("queue_fill_empty_total", "Frames the source lost for want of a free frame.", q),
		qWaitErrors:    d("queue_wait_errors_total", "Waits on the queue's source that failed (the worker backs off after each).", q),
		epDelivered:    d("endpoint_delivered_total", "Frames delivered to the endpoint.", ep),
		epDropped:      d("endpoint_dropped_total", "Frames dropped for the endpoint: its ring was full or it held its frame budget (over budget included).", ep),
		epOverBudget:   d("endpoint_over_budget_total", "Frames dropped because the endpoint, or its owner, held its budget of a queue's UMEM frames.", ep),
		epQueued:       d("endpoint_queued", "Frames on the endpoint's rings, not yet received.", ep),
		groupMembers:   d("group_members", "Open endpoints bound to the address (a reuseport group's size; 1 for a plain endpoint).", []string{"spec"}),
		xskRxDropped:   d("xsk_rx_dropped_total", "XDP_STATISTICS rx_dropped of the queue's AF_XDP socket.", xq),
		xskRxInvalid:   d("xsk_rx_invalid_descs_total", "XDP_STATISTICS rx_invalid_descs.", xq),
		xskRxRingFull:  d("xsk_rx_ring_full_total", "XDP_STATISTICS rx_ring_full.", xq),
		xskFillEmpty:   d("xsk_rx_fill_ring_empty_descs_total", "XDP_STATISTICS rx_fill_ring_empty_descs.", xq),
		xskTxInvalid:   d("xsk_tx_invalid_descs_total", "XDP_STATISTICS tx_invalid_descs.", xq),
		xskTxRingEmpty: d("xsk_tx_ring_empty_descs_total", "XDP_STATISTICS tx_ring_empty_descs.", xq),
		progRedirected: d("xdp_redirected_total", "Claimed frames the XDP program redirected to the queue's socket.", xq),
		progPassed:     d("xdp_passed_total", "Frames the XDP program passed to the kernel.", xq),
		progDropped:    d("xdp_dropped_total", "Claimed frames the XDP program dropped (drop-claimed mode).", xq),
		qHashed:        d("queue_hashed_total", "Frames hashed, by where the hash came from: the NIC (-hash nic) or the software Toeplitz hash.", []string{"queue", "source"}),
	}
}

// Describe sends every descriptor; the info gauge's labels are constant.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.qRX, c.qDelivered, c.qUnmatched, c.qMalformed, c.qRingFull, c.qOverBudget,
		c.epOverBudget, c.qClosedDropped, c.qResteered, c.qFillEmpty, c.qWaitErrors, c.epDelivered, c.epDropped, c.epQueued, c.groupMembers,
		c.xskRxDropped, c.xskRxInvalid, c.xskRxRingFull, c.xskFillEmpty, c.xskTxInvalid, c.xskTxRingEmpty,
		c.progRedirected, c.progPassed, c.progDropped, c.qHashed, c.infoLabeled(), c.hashInfo()} {
		ch <- d
	}
}

// infoLabeled is the info gauge with its constant labels.
func (c *metricsCollector) infoLabeled() *prometheus.Desc {
	return prometheus.NewDesc("xdpmux_info", "Constant 1; labels say how xdpmux is attached.", nil,
		prometheus.Labels{"ifname": c.info.Ifname, "mode": c.info.XDPMode, "xsk_mode": c.info.SocketMode})
}

// hashInfo is the hash gauge, its label the hash mode in force.
func (c *metricsCollector) hashInfo() *prometheus.Desc {
	mode := c.info.HashMode
	if mode == "" {
		mode = dataplane.HashToeplitz
	}
	return prometheus.NewDesc("xdpmux_hash_info", "Constant 1; the label says where the packet hash comes from (nic or toeplitz).", nil,
		prometheus.Labels{"mode": mode})
}

// Collect reads one snapshot.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.infoLabeled(), 1)
	gauge(c.hashInfo(), 1)
	st := c.stats()
	for _, qs := range st.Queues {
		q := strconv.Itoa(qs.Queue)
		counter(c.qRX, qs.RX, q)
		counter(c.qDelivered, qs.Delivered, q)
		counter(c.qUnmatched, qs.Unmatched, q)
		for _, r := range packet.Reasons() {
			counter(c.qMalformed, qs.Malformed[r], q, r.String())
		}
		counter(c.qRingFull, qs.RingFull, q)
		counter(c.qOverBudget, qs.OverBudget, q)
		counter(c.qClosedDropped, qs.ClosedDropped, q)
		counter(c.qResteered, qs.Resteered, q)
		counter(c.qFillEmpty, qs.FillEmpty, q)
		counter(c.qWaitErrors, qs.WaitErrors, q)
		counter(c.qHashed, qs.HashNIC, q, "nic")
		counter(c.qHashed, qs.HashSoftware, q, "software")
	}
	members := map[string]int{}
	for _, e := range st.Endpoints {
		counter(c.epDelivered, e.Delivered, e.Name, e.Spec)
		counter(c.epDropped, e.Dropped, e.Name, e.Spec)
		counter(c.epOverBudget, e.OverBudget, e.Name, e.Spec)
		gauge(c.epQueued, float64(e.Queued), e.Name, e.Spec)
		members[e.Spec]++
	}
	for spec, n := range members {
		gauge(c.groupMembers, float64(n), spec)
	}
	if c.xdp == nil {
		return
	}
	xs, err := c.xdp()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.xskRxDropped, err)
		return
	}
	for _, x := range xs {
		l := []string{strconv.Itoa(x.Queue), strconv.Itoa(x.IfQueue)}
		counter(c.xskRxDropped, x.Socket.RxDropped, l...)
		counter(c.xskRxInvalid, x.Socket.RxInvalidDescs, l...)
		counter(c.xskRxRingFull, x.Socket.RxRingFull, l...)
		counter(c.xskFillEmpty, x.Socket.RxFillRingEmptyDescs, l...)
		counter(c.xskTxInvalid, x.Socket.TxInvalidDescs, l...)
		counter(c.xskTxRingEmpty, x.Socket.TxRingEmptyDescs, l...)
		counter(c.progRedirected, x.Program.Redirected, l...)
		counter(c.progPassed, x.Program.Passed, l...)
		counter(c.progDropped, x.Program.Dropped, l...)
	}
}

// metricsHandler serves the collector's metrics (and nothing else: no Go
// runtime or process metrics).
func metricsHandler(c *metricsCollector, log *slog.Logger) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)})
}

// newMetricsServer returns an HTTP server with /metrics.
func newMetricsServer(dp *dataplane.Dataplane, info dataplane.InterfaceInfo,
	xdp func() ([]dataplane.QueueXDPStats, error), log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(newCollector(dp.Stats, xdp, info), log))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}
