/*
 * NicPump: uhyve's NIC frames between the guest's rings and libslirp or a tap device
 * in compiled code (hermit_build/net/nic.py drives it; its Python loop stays the
 * reference and the path for captures).  run() holds no GIL: it takes the guest's
 * frames from the tx ring into slirp_input (or writes them to the tap device), polls
 * slirp's sockets and runs its timers (or reads the tap device) and writes the
 * network's frames into the rx ring, as nic.py's _serve does, and takes the GIL only
 * to call wake() when the guest sleeps waiting for rx.
 *
 *     NicPump(lib_handle, rx, tx, layout, wake, kick_fd, host_ports, served[, tap_fd, gso])
 *
 * slirp_new(config) makes the slirp (slirp.py adds the forwards and cleans it up);
 * with a tap_fd (non-blocking, IFF_VNET_HDR; tap.py's TapNet owns and closes it) there
 * is no slirp and lib_handle is not used: each frame carries a virtio_net_hdr, and
 * where tap.py turned the device's offloads on, the host hands over TCP segments of up
 * to 64 KiB and checksums left to fill, which this loop cuts to the guest's MTU and
 * completes (the host's stack then passes one skb where it would pass 45); with gso
 * true (those offloads on) the guest's consecutive TCP segments go out merged, as
 * one TCPv4 GSO frame.
 * lib_handle: dlopen's handle of libslirp (ctypes.CDLL._handle); rx, tx: writable
 * buffers of the rings (NET_RING_BYTES each, in guest RAM); layout: (head, tail and
 * wait offsets, slots offset, slots, slot size, frame max); host_ports: None for
 * every port, else the ports of HERMIT_HOST_PORTS; served: the forwarded guest ports.
 * The guest is hostile: it writes both rings' memory at any time, so a length word is
 * read once and checked, a frame is copied out before it is looked at, and a tx ring
 * whose counters are impossible is dropped whole (resynced), as nic.py does.
 */
#include "fastio.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LINGER_NS 200000 /* awake after the last frame before a real sleep (nic.py) */
#define MAX_SLEEP_MS 1000
#define FRAME_BUF (65536 + 64) /* a tap's 64 KiB segment, its headers and virtio's */
#define TAP_DRAIN 256 /* frames read from a tap device per wake-up (tap.py's) */
#define VNET_HDR 10 /* struct virtio_net_hdr before each frame of an IFF_VNET_HDR tap */
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_TCPV4 1
#define VNET_GSO_ECN 0x80
#define SEG_BUF 4096 /* one segment cut from a tap's large one (the ring's slots are 2 KiB) */

/* libslirp 4.x's callbacks and entry points (its header is not needed to build) */
typedef ssize_t (*send_cb)(const void *buf, size_t len, void *opaque);
typedef void (*timer_cb)(void *opaque);
typedef int (*add_poll_cb)(int fd, int events, void *opaque);
typedef int (*revents_cb)(int idx, void *opaque);
struct slirp_cb {
	send_cb send_packet;
	void (*guest_error)(const char *msg, void *opaque);
	int64_t (*clock_get_ns)(void *opaque);
	void *(*timer_new)(timer_cb cb, void *cb_opaque, void *opaque);
	void (*timer_free)(void *timer, void *opaque);
	void (*timer_mod)(void *timer, int64_t expire_ms, void *opaque);
	void (*register_poll_fd)(int fd, void *opaque);
	void (*unregister_poll_fd)(int fd, void *opaque);
	void (*notify)(void *opaque);
	void *init_completed, *timer_new_opaque;
};
enum { SL_IN = 1, SL_OUT = 2, SL_PRI = 4, SL_ERR = 8, SL_HUP = 16 };

struct timer {
	int64_t deadline; /* ms, -1: not armed */
	timer_cb cb;
	void *opaque;
	struct timer *next;
};

typedef struct {
	PyObject_HEAD
	Py_buffer rxb, txb;
	int have_rx, have_tx;
	size_t o_head, o_tail, o_wait, o_slots, slots, slot_size, frame_max;
	void *slirp;
	void *(*slirp_new)(const void *cfg, const struct slirp_cb *cb, void *opaque);
	void (*slirp_input)(void *slirp, const uint8_t *pkt, int len);
	void (*fill)(void *slirp, uint32_t *timeout, add_poll_cb add, void *opaque);
	void (*poll)(void *slirp, int select_error, revents_cb get, void *opaque);
	struct slirp_cb cb;
	struct pollfd *fds;
	int nfds, capfds;
	struct timer *timers;
	PyObject *wake;
	int kick_fd, tap_fd;
	volatile int stopping;
	bool all_ports;
	uint8_t ports[8192], served[8192]; /* bitmaps of TCP/UDP ports */
	unsigned long long sent, received, dropped, wakes;
	uint8_t frame[FRAME_BUF];
	uint8_t seg[SEG_BUF];
	/* a tap with offloads: the guest's consecutive TCP segments of one stream, merged
	 * into one write (virtio's TCPv4 GSO; the host's stack takes it as one buffer) */
	int gso;
	uint8_t gro[FRAME_BUF];
	size_t gro_len, gro_hl, gro_mss;
	unsigned gro_n;
	uint32_t gro_next;
	bool gro_full;
	PyObject *error; /* an exception raised by wake(), re-raised by run() */
} Pump;

static inline uint64_t ld(const Py_buffer *b, size_t off)
{
	return __atomic_load_n((uint64_t *)((char *)b->buf + off), __ATOMIC_ACQUIRE);
}

static inline void st(const Py_buffer *b, size_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)((char *)b->buf + off), v, __ATOMIC_RELEASE);
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline bool bit(const uint8_t *map, unsigned port)
{
	return map[port >> 3] & (1u << (port & 7));
}

/* net/hostfilter.py's allowed(): the guest's TCP and UDP to the gateway (the host's
 * loopback) only on listed ports, or as a forwarded port's answer. */
static bool allowed(const Pump *p, const uint8_t *f, size_t len)
{
	static const uint8_t gateway[4] = {10, 0, 2, 2};

	if (p->all_ports || len < 34 || f[12] != 8 || f[13] != 0 || memcmp(f + 30, gateway, 4))
		return true;
	unsigned proto = f[23], ihl = (f[14] & 0x0f) * 4u;
	if (proto != 6 && proto != 17)
		return true;
	if (((f[20] << 8) | f[21]) & 0x1fff)
		return true; /* a later fragment: slirp delivers nothing unless the first passed */
	size_t at = 14 + ihl;
	if (ihl < 20 || len < at + 4)
		return false;
	if (bit(p->served, (unsigned)(f[at] << 8 | f[at + 1])))
		return true;
	return bit(p->ports, (unsigned)(f[at + 2] << 8 | f[at + 3]));
}

/* slirp's send_packet: one frame into the rx ring (dropped when it is full) */
static ssize_t to_guest(const void *buf, size_t len, void *opaque)
{
	Pump *p = opaque;
	uint64_t head = ld(&p->rxb, p->o_head), tail = ld(&p->rxb, p->o_tail);

	if (head - tail >= p->slots || len > p->frame_max) {
		p->dropped++;
	} else {
		char *slot = (char *)p->rxb.buf + p->o_slots + (head % p->slots) * p->slot_size;
		uint64_t l = len;
		memcpy(slot, &l, 8);
		memcpy(slot + 8, buf, len);
		st(&p->rxb, p->o_head, head + 1); /* after the slot */
		p->received++;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* head stored before wait is read */
	if (ld(&p->rxb, p->o_wait)) {
		st(&p->rxb, p->o_wait, 0);
		p->wakes++;
		PyGILState_STATE g = PyGILState_Ensure();
		PyObject *r = PyObject_CallNoArgs(p->wake);
		if (!r && !p->error) {
			PyObject *t, *v, *tb;
			PyErr_Fetch(&t, &v, &tb);
			PyErr_NormalizeException(&t, &v, &tb);
			p->error = v ? v : Py_NewRef(Py_None);
			Py_XDECREF(t);
			Py_XDECREF(tb);
			p->stopping = 1;
		}
		Py_XDECREF(r);
		PyErr_Clear();
		PyGILState_Release(g);
	}
	return (ssize_t)len;
}

static void tap_out(Pump *p, const uint8_t *f, size_t len);
static void tap_flush(Pump *p);

/* The guest's queued frames into slirp (or the tap device); how many were taken */
static int from_guest(Pump *p)
{
	uint64_t head = ld(&p->txb, p->o_head), tail = ld(&p->txb, p->o_tail);
	int n = 0;

	if (head - tail > p->slots) { /* the kernel broke the ring: drop it all */
		p->dropped++;
		st(&p->txb, p->o_tail, head);
		return 0;
	}
	for (; tail != head; n++) {
		const char *slot = (char *)p->txb.buf + p->o_slots + (tail % p->slots) * p->slot_size;
		uint64_t len;
		memcpy(&len, slot, 8);
		if (len >= 14 && len <= p->frame_max) {
			memcpy(p->frame, slot + 8, len); /* the guest may rewrite its slot */
			if (p->tap_fd >= 0)
				tap_out(p, p->frame, len);
			else if (allowed(p, p->frame, len)) {
				p->slirp_input(p->slirp, p->frame, (int)len);
			}
		} else {
			p->dropped++;
		}
		st(&p->txb, p->o_tail, ++tail);
	}
	if (p->tap_fd >= 0)
		tap_flush(p);
	p->sent += (unsigned)n;
	return n;
}

static int add_poll(int fd, int events, void *opaque)
{
	Pump *p = opaque;
	if (p->nfds == p->capfds) {
		int cap = p->capfds ? 2 * p->capfds : 64;
		struct pollfd *f = realloc(p->fds, sizeof(*f) * (size_t)cap);
		if (!f)
			return -1;
		p->fds = f;
		p->capfds = cap;
	}
	short ev = (short)((events & SL_IN ? POLLIN : 0) | (events & SL_OUT ? POLLOUT : 0) |
			   (events & SL_PRI ? POLLPRI : 0));
	p->fds[p->nfds] = (struct pollfd){.fd = fd, .events = ev};
	return p->nfds++;
}

static int get_revents(int idx, void *opaque)
{
	Pump *p = opaque;
	if (idx < 0 || idx >= p->nfds)
		return 0;
	short r = p->fds[idx].revents;
	return (r & POLLIN ? SL_IN : 0) | (r & POLLOUT ? SL_OUT : 0) | (r & POLLPRI ? SL_PRI : 0) |
	       (r & POLLERR ? SL_ERR : 0) | (r & POLLHUP ? SL_HUP : 0);
}

static inline unsigned get16(const uint8_t *b) { return (unsigned)b[0] << 8 | b[1]; }

static inline void put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* The ones'-complement sum of n bytes (big-endian words) added to sum */
static uint64_t csum_add(uint64_t sum, const uint8_t *b, size_t n)
{
	for (; n > 1; b += 2, n -= 2)
		sum += get16(b);
	return n ? sum + ((unsigned)b[0] << 8) : sum;
}

static inline uint32_t get32(const uint8_t *b) { return (uint32_t)get16(b) << 16 | get16(b + 2); }

static inline void put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

static unsigned csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~(unsigned)sum & 0xffff;
}

/* The IPv4 header at ip (ihl bytes) gets its checksum anew */
static void ip_checksum(uint8_t *ip, size_t ihl)
{
	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_add(0, ip, ihl)));
}

/* One IPv4 TCP segment of up to 64 KiB from the host, as segments of mss bytes: each
 * with its own IP length, id and checksum, sequence number and TCP checksum; FIN and
 * PSH on the last only, CWR on the first only (as Linux's software GSO does). */
static void tso4(Pump *p, const uint8_t *f, size_t len, size_t mss)
{
	if (len < 34 || f[12] != 8 || f[13] != 0 || f[23] != 6 || !mss)
		goto drop;
	size_t ihl = (f[14] & 15) * 4u, th = 14 + ihl;
	if (ihl < 20 || len < th + 20)
		goto drop;
	size_t thl = (f[th + 12] >> 4) * 4u, hl = th + thl;
	if (thl < 20 || len < hl || hl + mss > SEG_BUF)
		goto drop;
	size_t payload = len - hl, off = 0;
	unsigned id = get16(f + 18);
	uint32_t seq = get32(f + th + 4);
	uint8_t *o = p->seg;
	do { /* one segment at least: a lone FIN or ACK passes as it is */
		size_t chunk = payload - off < mss ? payload - off : mss;
		memcpy(o, f, hl);
		memcpy(o + hl, f + hl + off, chunk);
		put16(o + 16, (unsigned)(ihl + thl + chunk));
		put16(o + 18, (unsigned)(id + off / mss));
		ip_checksum(o + 14, ihl);
		put32(o + th + 4, seq + (uint32_t)off);
		if (off + chunk < payload)
			o[th + 13] &= (uint8_t)~0x09; /* FIN, PSH */
		if (off)
			o[th + 13] &= (uint8_t)~0x80; /* CWR */
		put16(o + th + 16, 0);
		uint64_t sum = csum_add(6 + thl + chunk, o + 26, 8); /* the pseudo-header */
		put16(o + th + 16, csum_fold(csum_add(sum, o + th, thl + chunk)));
		to_guest(o, hl + chunk, p);
		off += chunk;
	} while (off < payload);
	return;
drop:
	p->dropped++;
}

/* One read of the tap device (virtio_net_hdr, frame) to the guest */
static void tap_frame(Pump *p, uint8_t *b, size_t n)
{
	uint8_t flags = b[0], gso = b[1];
	unsigned gso_size = b[4] | (unsigned)b[5] << 8, start = b[6] | (unsigned)b[7] << 8,
		 at = b[8] | (unsigned)b[9] << 8; /* the header is little-endian */
	uint8_t *f = b + VNET_HDR;
	size_t len = n - VNET_HDR;

	if ((gso & ~VNET_GSO_ECN) == VNET_GSO_TCPV4) {
		tso4(p, f, len, gso_size); /* the TCP checksum is made anew */
		return;
	}
	if (gso) { /* a kind not offered */
		p->dropped++;
		return;
	}
	if (flags & VNET_F_NEEDS_CSUM) { /* the field holds the pseudo-header's sum */
		if ((size_t)start + at + 2 > len) {
			p->dropped++;
			return;
		}
		put16(f + start + at, csum_fold(csum_add(0, f + start, len - start)));
	}
	to_guest(f, len, p);
}

/* The tap device's frames into the rx ring, TAP_DRAIN at most */
static void tap_drain(Pump *p)
{
	for (int i = 0; i < TAP_DRAIN; i++) {
		ssize_t n = read(p->tap_fd, p->frame, FRAME_BUF);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				p->dropped++;
			return;
		}
		if ((size_t)n < VNET_HDR + 14)
			p->dropped++;
		else
			tap_frame(p, p->frame, (size_t)n);
	}
}

/* One frame (and the virtio_net_hdr h, or a plain one) to the tap device */
static void tap_write(Pump *p, const uint8_t *h, const uint8_t *f, size_t len, unsigned frames)
{
	static const uint8_t plain[VNET_HDR]; /* no checksum to fill, no segmentation */
	struct iovec v[2] = {{(void *)(h ? h : plain), VNET_HDR}, {(void *)f, len}};
	if (writev(p->tap_fd, v, 2) != (ssize_t)(VNET_HDR + len))
		p->dropped += frames; /* down, or its queue full: as a NIC drops */
}

/* The TCP header's length when f is an IPv4 TCP segment with data that may merge
 * with its neighbours (no IP options or fragments, only ACK and PSH), else 0 */
static size_t mergeable(const uint8_t *f, size_t len)
{
	if (len < 54 || f[12] != 8 || f[13] != 0 || f[14] != 0x45 || f[23] != 6 ||
	    get16(f + 16) != len - 14 || (get16(f + 20) & 0x3fff) || (f[47] & ~0x08) != 0x10)
		return 0;
	size_t hl = 34 + (f[46] >> 4) * 4u;
	return hl >= 54 && hl < len ? hl : 0;
}

/* The guest's frame to the tap device: a TCP segment that continues the one before
 * (same stream, next sequence number, same ACK, window and options, the one before
 * of full size and without PSH) joins it; the merged run goes out at tap_flush */
static void tap_out(Pump *p, const uint8_t *f, size_t len)
{
	size_t hl = p->gso ? mergeable(f, len) : 0, pay = len - hl;
	if (p->gro_n && hl) {
		const uint8_t *g = p->gro;
		if (hl == p->gro_hl && p->gro_full && !(g[47] & 0x08) && pay <= p->gro_mss &&
		    p->gro_len + pay <= 65535 + 14 && get32(f + 38) == p->gro_next &&
		    !memcmp(g + 26, f + 26, 12) && !memcmp(g + 42, f + 42, 4) &&
		    !memcmp(g + 48, f + 48, 2) && !memcmp(g + 54, f + 54, hl - 54)) {
			memcpy(p->gro + p->gro_len, f + hl, pay);
			p->gro_len += pay;
			p->gro_n++;
			p->gro_next += (uint32_t)pay;
			p->gro[47] |= f[47]; /* PSH */
			p->gro_full = pay == p->gro_mss;
			return;
		}
	}
	tap_flush(p);
	if (!hl) {
		tap_write(p, NULL, f, len, 1);
		return;
	}
	memcpy(p->gro, f, len);
	p->gro_len = len, p->gro_hl = hl, p->gro_mss = pay, p->gro_n = 1;
	p->gro_next = get32(f + 38) + (uint32_t)pay;
	p->gro_full = true;
}

/* The merged run out: one segment as it came, more as one TCPv4 GSO frame whose IP
 * header is made anew and whose TCP checksum is the pseudo-header's sum, left to the
 * host (VIRTIO_NET_HDR_F_NEEDS_CSUM), as a NIC with TSO receives it */
static void tap_flush(Pump *p)
{
	if (!p->gro_n)
		return;
	uint8_t *g = p->gro;
	if (p->gro_n == 1) {
		tap_write(p, NULL, g, p->gro_len, 1);
	} else {
		put16(g + 16, (unsigned)(p->gro_len - 14));
		ip_checksum(g + 14, 20);
		put16(g + 50, ~csum_fold(csum_add(6 + p->gro_len - 34, g + 26, 8)) & 0xffff);
		uint8_t h[VNET_HDR] = {VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, (uint8_t)p->gro_hl, 0,
				       (uint8_t)p->gro_mss, (uint8_t)(p->gro_mss >> 8), 34, 0, 16, 0};
		tap_write(p, h, g, p->gro_len, p->gro_n);
	}
	p->gro_n = 0;
}

/* Wait up to timeout_ms for the tap device (and the kick), take its frames; true when
 * the kick fd was readable. */
static bool pump_tap(Pump *p, uint32_t timeout_ms, bool kick)
{
	struct pollfd f[2] = {{.fd = p->tap_fd, .events = POLLIN}, {.fd = p->kick_fd, .events = POLLIN}};
	int r = poll(f, kick ? 2 : 1, (int)timeout_ms);
	if (r > 0 && (f[0].revents & POLLIN))
		tap_drain(p);
	return kick && r > 0 && (f[1].revents & POLLIN);
}

/* Wait up to timeout_ms for slirp's sockets (and the kick), serve slirp and its
 * timers; true when the kick fd was readable. */
static bool pump(Pump *p, uint32_t timeout_ms, bool kick)
{
	if (p->tap_fd >= 0)
		return pump_tap(p, timeout_ms, kick);
	p->nfds = 0;
	uint32_t t = timeout_ms;
	p->fill(p->slirp, &t, add_poll, p);
	int64_t now_ms = now_ns() / 1000000;
	for (struct timer *x = p->timers; x; x = x->next)
		if (x->deadline >= 0 && x->deadline - now_ms < (int64_t)t)
			t = x->deadline > now_ms ? (uint32_t)(x->deadline - now_ms) : 0;
	int k = kick ? add_poll(p->kick_fd, SL_IN, p) : -1;
	int r = poll(p->fds, (nfds_t)p->nfds, (int)t);
	bool kicked = k >= 0 && r > 0 && (p->fds[k].revents & POLLIN);
	if (k >= 0)
		p->nfds--; /* slirp's indices only */
	p->poll(p->slirp, r < 0, get_revents, p);
	now_ms = now_ns() / 1000000;
	for (struct timer *x = p->timers; x; x = x->next)
		if (x->deadline >= 0 && x->deadline <= now_ms) {
			x->deadline = -1;
			x->cb(x->opaque);
		}
	return kicked;
}

static int64_t clock_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *timer_new(timer_cb cb, void *cb_opaque, void *opaque)
{
	Pump *p = opaque;
	struct timer *x = calloc(1, sizeof(*x));
	if (x) {
		*x = (struct timer){.deadline = -1, .cb = cb, .opaque = cb_opaque, .next = p->timers};
		p->timers = x;
	}
	return x;
}

static void timer_free(void *timer, void *opaque)
{
	Pump *p = opaque;
	for (struct timer **x = &p->timers; *x; x = &(*x)->next)
		if (*x == timer) {
			*x = (*x)->next;
			free(timer);
			return;
		}
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	if (timer)
		((struct timer *)timer)->deadline = expire_ms < 0 ? 0 : expire_ms;
}

static void no_error(const char *msg, void *opaque) { (void)msg, (void)opaque; }
static void no_fd(int fd, void *opaque) { (void)fd, (void)opaque; }
static void no_notify(void *opaque) { (void)opaque; }

static int set_ports(uint8_t *map, PyObject *ports)
{
	PyObject *it = PyObject_GetIter(ports), *x;
	if (!it)
		return -1;
	while ((x = PyIter_Next(it))) {
		long v = PyLong_AsLong(x);
		Py_DECREF(x);
		if (v < 0 || v > 65535) {
			Py_DECREF(it);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "a port outside 0-65535");
			return -1;
		}
		map[v >> 3] |= (uint8_t)(1u << (v & 7));
	}
	Py_DECREF(it);
	return PyErr_Occurred() ? -1 : 0;
}

static int pump_init(Pump *p, PyObject *args, PyObject *kw)
{
	unsigned long long handle;
	PyObject *rx, *tx, *wake, *ports, *served;
	Py_ssize_t lay[7];
	(void)kw;

	p->tap_fd = -1;
	if (!PyArg_ParseTuple(args, "KOO(nnnnnnn)OiOO|ip", &handle, &rx, &tx, &lay[0], &lay[1],
			      &lay[2], &lay[3], &lay[4], &lay[5], &lay[6], &wake, &p->kick_fd,
			      &ports, &served, &p->tap_fd, &p->gso))
		return -1;
	if (p->have_rx || p->have_tx) {
		PyErr_SetString(PyExc_RuntimeError, "NicPump initialised twice");
		return -1;
	}
	if (p->tap_fd < 0) {
		void *h = (void *)(uintptr_t)handle;
		p->slirp_new = dlsym(h, "slirp_new");
		p->slirp_input = dlsym(h, "slirp_input");
		p->fill = dlsym(h, "slirp_pollfds_fill");
		p->poll = dlsym(h, "slirp_pollfds_poll");
		if (!p->slirp_new || !p->slirp_input || !p->fill || !p->poll) {
			PyErr_SetString(PyExc_OSError, "libslirp lacks an entry point");
			return -1;
		}
	}
	for (int i = 0; i < 7; i++)
		if (lay[i] < 0)
			goto bad;
	p->o_head = (size_t)lay[0], p->o_tail = (size_t)lay[1], p->o_wait = (size_t)lay[2];
	p->o_slots = (size_t)lay[3], p->slots = (size_t)lay[4], p->slot_size = (size_t)lay[5];
	p->frame_max = (size_t)lay[6];
	if (!p->slots || p->frame_max + 8 > p->slot_size || p->frame_max > FRAME_BUF)
		goto bad;
	if (PyObject_GetBuffer(rx, &p->rxb, PyBUF_WRITABLE) < 0)
		return -1;
	p->have_rx = 1;
	if (PyObject_GetBuffer(tx, &p->txb, PyBUF_WRITABLE) < 0)
		return -1;
	p->have_tx = 1;
	size_t need = p->o_slots + p->slots * p->slot_size;
	size_t words[] = {p->o_head, p->o_tail, p->o_wait};
	for (int i = 0; i < 3; i++)
		if (words[i] % 8 || words[i] + 8 > p->o_slots)
			goto bad;
	if ((size_t)p->rxb.len < need || (size_t)p->txb.len < need)
		goto bad;
	p->all_ports = ports == Py_None;
	if ((!p->all_ports && set_ports(p->ports, ports) < 0) || set_ports(p->served, served) < 0)
		return -1;
	p->wake = Py_NewRef(wake);
	p->cb = (struct slirp_cb){.send_packet = to_guest, .guest_error = no_error,
				  .clock_get_ns = clock_ns, .timer_new = timer_new,
				  .timer_free = timer_free, .timer_mod = timer_mod,
				  .register_poll_fd = no_fd, .unregister_poll_fd = no_fd,
				  .notify = no_notify};
	return 0;
bad:
	PyErr_SetString(PyExc_ValueError, "ring layout does not fit the ring buffers");
	return -1;
}

static PyObject *pump_slirp_new(Pump *p, PyObject *arg)
{
	unsigned long long cfg = PyLong_AsUnsignedLongLong(arg);
	if (PyErr_Occurred())
		return NULL;
	if (p->slirp || p->tap_fd >= 0) {
		PyErr_SetString(PyExc_RuntimeError, p->slirp ? "slirp already made" : "a tap pump");
		return NULL;
	}
	p->slirp = p->slirp_new((const void *)(uintptr_t)cfg, &p->cb, p);
	return PyLong_FromVoidPtr(p->slirp);
}

static PyObject *pump_run(Pump *p, PyObject *unused)
{
	(void)unused;
	if (!p->slirp && p->tap_fd < 0) {
		PyErr_SetString(PyExc_RuntimeError, "no slirp");
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	int64_t awake_until = 0;
	while (!p->stopping) {
		if (from_guest(p))
			awake_until = now_ns() + LINGER_NS;
		if (now_ns() < awake_until) {
			pump(p, 0, false);
			continue;
		}
		st(&p->txb, p->o_wait, 1);
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* wait stored before head is read */
		if (ld(&p->txb, p->o_head) != ld(&p->txb, p->o_tail)) {
			st(&p->txb, p->o_wait, 0);
			continue;
		}
		if (pump(p, MAX_SLEEP_MS, true)) {
			uint64_t v;
			(void)!read(p->kick_fd, &v, sizeof(v));
		}
		st(&p->txb, p->o_wait, 0);
	}
	Py_END_ALLOW_THREADS
	if (p->error) {
		PyErr_SetObject((PyObject *)Py_TYPE(p->error), p->error);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *pump_stop(Pump *p, PyObject *unused)
{
	(void)unused;
	p->stopping = 1;
	uint64_t one = 1;
	(void)!write(p->kick_fd, &one, sizeof(one));
	Py_RETURN_NONE;
}

static PyObject *pump_stats(Pump *p, PyObject *unused)
{
	(void)unused;
	return Py_BuildValue("KKKK", p->sent, p->received, p->dropped, p->wakes);
}

/* After slirp.py's Slirp.close() (slirp_cleanup frees its timers through us) */
static void pump_release(Pump *p)
{
	p->slirp = NULL;
	while (p->timers) {
		struct timer *x = p->timers;
		p->timers = x->next;
		free(x);
	}
	if (p->have_rx)
		PyBuffer_Release(&p->rxb);
	if (p->have_tx)
		PyBuffer_Release(&p->txb);
	p->have_rx = p->have_tx = 0;
}

static PyObject *pump_close(Pump *p, PyObject *unused)
{
	(void)unused;
	pump_release(p);
	Py_RETURN_NONE;
}

static void pump_dealloc(Pump *p)
{
	pump_release(p);
	free(p->fds);
	Py_XDECREF(p->wake);
	Py_XDECREF(p->error);
	Py_TYPE(p)->tp_free((PyObject *)p);
}

static PyMethodDef pump_methods[] = {
	{"slirp_new", (PyCFunction)pump_slirp_new, METH_O,
	 "slirp_new(config address): libslirp with this pump's callbacks; its pointer"},
	{"run", (PyCFunction)pump_run, METH_NOARGS, "serve the rings until stop()"},
	{"stop", (PyCFunction)pump_stop, METH_NOARGS, "end run() (any thread)"},
	{"stats", (PyCFunction)pump_stats, METH_NOARGS, "(sent, received, dropped, wakes)"},
	{"close", (PyCFunction)pump_close, METH_NOARGS, "the rings released (after slirp_cleanup)"},
	{NULL, NULL, 0, NULL},
};

PyTypeObject fastio_pump_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_hermit_fastio.NicPump",
	.tp_basicsize = sizeof(Pump),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "uhyve's NIC between its rings and libslirp or a tap device, without the GIL "
		  "(netpump.c)",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)pump_init,
	.tp_dealloc = (destructor)pump_dealloc,
	.tp_methods = pump_methods,
};
