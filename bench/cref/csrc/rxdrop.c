// xdpmux-cref: the benchmark's C AF_XDP reference (bench/cref, docs/BENCHMARKS.md).
//
// One AF_XDP socket per queue through libxdp's xsk API (libxdp loads its
// default redirect program), one thread per queue: take what the rx ring
// holds, read each frame's first bytes (destination MAC, ethertype), give
// the frames straight back to the fill ring. Like the kernel's
// `xdpsock -r`, but it waits in poll(2) when the rx ring is empty, as the
// Go readers of the benchmark do, instead of spinning.
//
//   xdpmux-cref IFNAME QUEUES FRAMES_PER_QUEUE
//
// Copy mode, native (driver) XDP, 2 KiB frames, all on the fill ring, an rx
// ring half as deep: the options of the benchmark's Go sockets. Protocol on
// stdin/stdout: it prints "ready" once every socket is bound; for each line
// read from stdin it prints one line
//
//   C <packets q0> <packets q1> ... D <rx_dropped> <rx_ring_full> <rx_invalid_descs>
//
// (cumulative; the D figures are XDP_STATISTICS summed over the sockets);
// at EOF on stdin it stops, deletes the sockets (which removes the program)
// and exits 0. Errors go to stderr with exit status 1.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#define FRAME_SIZE 2048
#define BATCH 256
#define MAX_QUEUES 64

struct queue {
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_ring_cons rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	void *buf;
	pthread_t thread;
	uint64_t packets; // written by the queue's thread, read atomically
	uint64_t sink;
	char pad[64];
};

static struct queue queues[MAX_QUEUES];
static int nqueues;
static volatile int stop;

static void die(const char *what, int err)
{
	fprintf(stderr, "xdpmux-cref: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void *rx_loop(void *arg)
{
	struct queue *q = arg;
	struct pollfd pfd = {.fd = xsk_socket__fd(q->xsk), .events = POLLIN};
	uint64_t acc = 0;

	while (!stop) {
		uint32_t idx_rx = 0, idx_fq = 0;
		unsigned int n = xsk_ring_cons__peek(&q->rx, BATCH, &idx_rx);
		if (n == 0) {
			if (xsk_ring_prod__needs_wakeup(&q->fq))
				recvfrom(pfd.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			poll(&pfd, 1, 100);
			continue;
		}
		// The fill ring holds every frame of the UMEM: there is always
		// room for the n frames just taken from the rx ring.
		while (xsk_ring_prod__reserve(&q->fq, n, &idx_fq) != n)
			;
		for (unsigned int i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx_rx + i);
			const unsigned char *p = xsk_umem__get_data(q->buf, d->addr);
			acc += p[0] + p[12];
			*xsk_ring_prod__fill_addr(&q->fq, idx_fq + i) = xsk_umem__extract_addr(d->addr);
		}
		xsk_ring_prod__submit(&q->fq, n);
		xsk_ring_cons__release(&q->rx, n);
		__atomic_fetch_add(&q->packets, n, __ATOMIC_RELAXED);
	}
	q->sink = acc;
	return NULL;
}

static void open_queue(struct queue *q, const char *ifname, int id, uint32_t frames)
{
	size_t size = (size_t)frames * FRAME_SIZE;
	q->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q->buf == MAP_FAILED)
		die("mmap umem", errno);
	struct xsk_umem_config ucfg = {
		.fill_size = frames,
		.comp_size = 64,
		.frame_size = FRAME_SIZE,
		.frame_headroom = 0,
		.flags = 0,
	};
	int err = xsk_umem__create(&q->umem, q->buf, size, &q->fq, &q->cq, &ucfg);
	if (err)
		die("xsk_umem__create", err);
	struct xsk_socket_config scfg = {
		.rx_size = frames / 2 < 64 ? 64 : frames / 2,
		.tx_size = 0,
		.libxdp_flags = 0, // load libxdp's default redirect program
		.xdp_flags = XDP_FLAGS_DRV_MODE,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	err = xsk_socket__create(&q->xsk, ifname, id, q->umem, &q->rx, NULL, &scfg);
	if (err)
		die("xsk_socket__create", err);
	uint32_t idx = 0;
	if (xsk_ring_prod__reserve(&q->fq, frames, &idx) != frames)
		die("fill ring reserve", ENOSPC);
	for (uint32_t i = 0; i < frames; i++)
		*xsk_ring_prod__fill_addr(&q->fq, idx + i) = (uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(&q->fq, frames);
}

static void print_counters(void)
{
	uint64_t dropped = 0, ring_full = 0, invalid = 0;
	printf("C");
	for (int i = 0; i < nqueues; i++) {
		struct xdp_statistics st;
		socklen_t len = sizeof(st);
		memset(&st, 0, sizeof(st));
		if (getsockopt(xsk_socket__fd(queues[i].xsk), SOL_XDP, XDP_STATISTICS, &st, &len) == 0) {
			dropped += st.rx_dropped;
			ring_full += st.rx_ring_full;
			invalid += st.rx_invalid_descs;
		}
		printf(" %llu", (unsigned long long)__atomic_load_n(&queues[i].packets, __ATOMIC_RELAXED));
	}
	printf(" D %llu %llu %llu\n", (unsigned long long)dropped, (unsigned long long)ring_full,
	       (unsigned long long)invalid);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: xdpmux-cref IFNAME QUEUES FRAMES_PER_QUEUE\n");
		return 2;
	}
	const char *ifname = argv[1];
	nqueues = atoi(argv[2]);
	long frames = atol(argv[3]);
	if (nqueues < 1 || nqueues > MAX_QUEUES || frames < 64 || (frames & (frames - 1)) != 0) {
		fprintf(stderr, "xdpmux-cref: want 1..%d queues and a power-of-two frame count >= 64\n", MAX_QUEUES);
		return 2;
	}
	libbpf_set_print(NULL); // libxdp's warnings (no bpffs, no dispatcher) are expected here
	for (int i = 0; i < nqueues; i++)
		open_queue(&queues[i], ifname, i, (uint32_t)frames);
	for (int i = 0; i < nqueues; i++) {
		int err = pthread_create(&queues[i].thread, NULL, rx_loop, &queues[i]);
		if (err)
			die("pthread_create", err);
	}
	printf("ready\n");
	fflush(stdout);

	char line[64];
	while (fgets(line, sizeof(line), stdin))
		print_counters();

	stop = 1;
	for (int i = 0; i < nqueues; i++)
		pthread_join(queues[i].thread, NULL);
	for (int i = 0; i < nqueues; i++) {
		xsk_socket__delete(queues[i].xsk);
		xsk_umem__delete(queues[i].umem);
		munmap(queues[i].buf, (size_t)frames * FRAME_SIZE);
	}
	return 0;
}
