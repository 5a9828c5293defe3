/*
 * TEST ONLY, until the network stack (net/, lwIP) lands: the merge drops this file
 * and its system call.  SYS_hermit_net_selftest(n) sends n ARP requests for the
 * user-mode network's gateway (10.0.2.2, from 10.0.2.15) through netdev_first(),
 * one at a time, each waiting up to a second for its reply; it returns how many
 * were answered, or -ENODEV without a NIC.  With a port p (second argument) it then
 * waits up to a third argument's seconds for a TCP SYN to 10.0.2.15:p (a host port
 * forwarded to it) and returns 1 when one came, else 0.  A fourth argument, nonzero,
 * sends the n requests as one burst and then counts the replies (some may be dropped
 * by a full ring, as a NIC drops).  netdev_rx() here is the
 * frame consumer the stack will replace.
 */
#include <errno.h>

#include <hermit/netdev.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define ETH_ARP 0x0806
#define ARP_REQUEST 1
#define ARP_REPLY 2

static const uint8_t gateway[4] = {10, 0, 2, 2}, self[4] = {10, 0, 2, 15};
static uint64_t replies, frames, syns;
static uint16_t syn_port;

static int tcp_syn(const uint8_t *f, size_t len)
{
	if (len < 54 || f[12] != 0x08 || f[13] != 0 || f[23] != 6 || memcmp(f + 30, self, 4))
		return 0;
	const uint8_t *tcp = f + 14 + (f[14] & 0xf) * 4;
	if (tcp + 14 > f + len)
		return 0;
	return (tcp[2] << 8 | tcp[3]) == syn_port && (tcp[13] & 0x12) == 0x02;
}

void netdev_rx(struct netdev *dev, const void *frame, size_t len)
{
	const uint8_t *f = frame;

	frames++;
	if (syn_port && tcp_syn(f, len))
		syns++;
	if (len < 42 || f[12] != ETH_ARP >> 8 || f[13] != (ETH_ARP & 0xff))
		return;
	if (f[20] != 0 || f[21] != ARP_REPLY || memcmp(f + 28, gateway, 4) ||
	    memcmp(f + 32, dev->mac, 6) || memcmp(f + 38, self, 4))
		return;
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
	if (!a1)
		return answered;
	uint64_t deadline = time_monotonic_ns() + (uint64_t)a2 * 1000000000ULL;
	while (dev->poll(dev), !syns && time_monotonic_ns() < deadline)
		sched_sleep_until(time_monotonic_ns() + 200000);
	kprintf("hermit: net selftest: %lu SYN(s) to port %u\n", (unsigned long)syns, syn_port);
	return syns != 0;
}
