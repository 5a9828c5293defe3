/*
 * TEST ONLY, until the network stack (net/, lwIP) lands: the merge drops this file
 * and its system call.  SYS_hermit_net_selftest(n) sends n ARP requests for the
 * user-mode network's gateway (10.0.2.2, from 10.0.2.15) through netdev_first(),
 * one at a time, each waiting up to a second for its reply; it returns how many
 * were answered, or -ENODEV without a NIC.  With a port p (second argument) it then
 * waits up to a third argument's seconds for a TCP SYN to 10.0.2.15:p (a host port
 * forwarded to it) and returns 1 when one came, else 0.  A fourth argument, nonzero,
 * sends the n requests as one burst and then counts the replies (some may be dropped
 * by a full ring, as a NIC drops).  A fifth, a port q: after the ARP round, a TCP
 * SYN to 10.0.2.2:q (the host's loopback port q, where the loader lets it through),
 * returning 1 when a SYN-ACK comes back within the third argument's seconds, else 0.
 * netdev_rx() here is the frame consumer the stack will replace.
 */
#include <errno.h>

#include <hermit/netdev.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define ETH_ARP 0x0806
#define ARP_REQUEST 1
#define ARP_REPLY 2

static const uint8_t gateway[4] = {10, 0, 2, 2}, self[4] = {10, 0, 2, 15};
static uint64_t replies, frames, syns, synacks;
static uint16_t syn_port, connect_port;
static uint8_t gateway_mac[6];

/* The TCP header of an IPv4 frame from `from` to us, or NULL. */
static const uint8_t *tcp_to_us(const uint8_t *f, size_t len, const uint8_t from[4])
{
	if (len < 54 || f[12] != 0x08 || f[13] != 0 || f[23] != 6 || memcmp(f + 30, self, 4))
		return 0;
	if (from && memcmp(f + 26, from, 4))
		return 0;
	const uint8_t *tcp = f + 14 + (f[14] & 0xf) * 4;
	return tcp + 14 <= f + len ? tcp : 0;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	return sum;
}

static void put16(uint8_t *p, uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[0] = (uint8_t)(~sum >> 8);
	p[1] = (uint8_t)~sum;
}

/* A TCP SYN from 10.0.2.15:40000 to 10.0.2.2:port, 54 bytes. */
static void tcp_syn_frame(struct netdev *dev, uint8_t f[54], uint16_t port)
{
	static const uint8_t ip[12] = {0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0};
	uint8_t *tcp = f + 34;

	memcpy(f, gateway_mac, 6);
	memcpy(f + 6, dev->mac, 6);
	f[12] = 0x08;
	f[13] = 0;
	memcpy(f + 14, ip, 12);
	memcpy(f + 26, self, 4);
	memcpy(f + 30, gateway, 4);
	put16(f + 24, sum16(f + 14, 20, 0));
	memset(tcp, 0, 20);
	tcp[0] = 40000 >> 8;
	tcp[1] = 40000 & 0xff;
	tcp[2] = (uint8_t)(port >> 8);
	tcp[3] = (uint8_t)port;
	tcp[7] = 1;         /* seq 1 */
	tcp[12] = 5 << 4;   /* no options */
	tcp[13] = 0x02;     /* SYN */
	tcp[14] = tcp[15] = 0xff;
	uint8_t pseudo[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 20};
	memcpy(pseudo, self, 4);
	memcpy(pseudo + 4, gateway, 4);
	put16(tcp + 16, sum16(tcp, 20, sum16(pseudo, 12, 0)));
}

static int tcp_syn(const uint8_t *f, size_t len)
{
	const uint8_t *tcp = tcp_to_us(f, len, 0);
	return tcp && (tcp[2] << 8 | tcp[3]) == syn_port && (tcp[13] & 0x12) == 0x02;
}

static int tcp_synack(const uint8_t *f, size_t len)
{
	const uint8_t *tcp = tcp_to_us(f, len, gateway);
	return tcp && (tcp[0] << 8 | tcp[1]) == connect_port && (tcp[13] & 0x12) == 0x12;
}

void netdev_rx(struct netdev *dev, const void *frame, size_t len)
{
	const uint8_t *f = frame;

	frames++;
	if (syn_port && tcp_syn(f, len))
		syns++;
	if (connect_port && tcp_synack(f, len))
		synacks++;
	if (len < 42 || f[12] != ETH_ARP >> 8 || f[13] != (ETH_ARP & 0xff))
		return;
	if (f[20] != 0 || f[21] != ARP_REPLY || memcmp(f + 28, gateway, 4) ||
	    memcmp(f + 32, dev->mac, 6) || memcmp(f + 38, self, 4))
		return;
	memcpy(gateway_mac, f + 22, 6);
	replies++;
}

static void arp_request(struct netdev *dev, uint8_t f[42])
{
	static const uint8_t head[8] = {0, 1, 8, 0, 6, 4, 0, ARP_REQUEST};

	memset(f, 0xff, 6); /* broadcast */
	memcpy(f + 6, dev->mac, 6);
	f[12] = ETH_ARP >> 8;
	f[13] = ETH_ARP & 0xff;
	memcpy(f + 14, head, 8);
	memcpy(f + 22, dev->mac, 6);
	memcpy(f + 28, self, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, gateway, 4);
}

long sys_hermit_net_selftest(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct netdev *dev = netdev_first();
	uint8_t f[42];
	long answered = 0;

	if (!dev)
		return -ENODEV;
	syn_port = (uint16_t)a1; /* before any poll: a SYN may be waiting already */
	arp_request(dev, f);
	if (a3) { /* a burst: every request at once, then the replies */
		uint64_t before = replies, deadline = time_monotonic_ns() + 2000000000ULL;
		for (long i = 0; i < a0; i++) {
			int r;
			while ((r = dev->xmit(dev, f, sizeof(f))) == -EAGAIN)
				dev->poll(dev);
			if (r)
				return r;
		}
		while (dev->poll(dev), replies - before < (uint64_t)a0 && time_monotonic_ns() < deadline)
			sched_sleep_until(time_monotonic_ns() + 200000);
		answered = (long)(replies - before);
	}
	for (long i = 0; i < a0 && !a3; i++) {
		uint64_t before = replies, deadline = time_monotonic_ns() + 1000000000ULL;
		int r;
		while ((r = dev->xmit(dev, f, sizeof(f))) == -EAGAIN)
			dev->poll(dev);
		if (r)
			return r;
		while (dev->poll(dev), replies == before && time_monotonic_ns() < deadline)
			sched_sleep_until(time_monotonic_ns() + 200000); /* idle: the loader may wake us */
		answered += replies != before;
	}
	kprintf("hermit: net selftest: %ld of %ld ARP requests answered, %lu frames in\n",
		answered, a0, (unsigned long)frames);
	if (a4) {
		uint8_t syn[54];
		connect_port = (uint16_t)a4;
		tcp_syn_frame(dev, syn, connect_port);
		int r = dev->xmit(dev, syn, sizeof(syn));
		if (r)
			return r;
		uint64_t deadline = time_monotonic_ns() + (uint64_t)a2 * 1000000000ULL;
		while (dev->poll(dev), !synacks && time_monotonic_ns() < deadline)
			sched_sleep_until(time_monotonic_ns() + 200000);
		kprintf("hermit: net selftest: %lu SYN-ACK(s) from 10.0.2.2:%u\n",
			(unsigned long)synacks, connect_port);
		return synacks != 0;
	}
	if (!a1)
		return answered;
	uint64_t deadline = time_monotonic_ns() + (uint64_t)a2 * 1000000000ULL;
	while (dev->poll(dev), !syns && time_monotonic_ns() < deadline)
		sched_sleep_until(time_monotonic_ns() + 200000);
	kprintf("hermit: net selftest: %lu SYN(s) to port %u\n", (unsigned long)syns, syn_port);
	return syns != 0;
}
