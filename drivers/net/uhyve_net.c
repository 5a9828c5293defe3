/*
 * uhyve's NIC: two rings in guest memory that the loader reads and writes in
 * place (struct net_ring, hermit_build/abi/spec.py; the loader's side is
 * hermit_build/net/nic.py).  Receiving costs no VM exit: poll() reads what the
 * loader's NIC thread put in rx.  Sending costs one (HC_NET_KICK) only when
 * that thread said it sleeps (tx.wait); while it is awake it finds the frames.
 */
#include <errno.h>

#include <hermit/arch.h>
#include "drivers.h"

struct ring {
	volatile struct net_ring *hdr;
	uint8_t *slots;
};

static struct uhyve_net {
	struct netdev dev;
	struct ring rx, tx;
	struct hc_net hc; /* also the argument of every HC_NET_KICK */
} nic;

static uint8_t *slot(const struct ring *r, uint64_t i)
{
	return r->slots + (i & (HERMIT_NET_SLOTS - 1)) * HERMIT_NET_SLOT_SIZE;
}

static int uhyve_xmit(struct netdev *dev, const void *frame, size_t len)
{
	struct uhyve_net *n = dev->priv;
	volatile struct net_ring *t = n->tx.hdr;

	if (len > HERMIT_NET_FRAME_MAX || len < 14)
		return -EINVAL;
	uint64_t head = t->head;
	if (head - __atomic_load_n(&t->tail, __ATOMIC_ACQUIRE) >= HERMIT_NET_SLOTS)
		return -EAGAIN;
	uint8_t *s = slot(&n->tx, head);
	*(uint64_t *)s = len;
	memcpy(s + 8, frame, len);
	__atomic_store_n(&t->head, head + 1, __ATOMIC_RELEASE);
	/* head stored before wait is read: the loader sets wait, fences, reads head */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->wait, __ATOMIC_RELAXED)) {
		t->wait = 0;
		arch_hypercall(HC_NET_KICK, &n->hc);
	}
	return 0;
}

static int uhyve_pending(struct netdev *dev)
{
	struct uhyve_net *n = dev->priv;
	volatile struct net_ring *r = n->rx.hdr;

	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) != r->tail;
}

/* The loader ends the cpus' HC_IDLE at the next frame while rx.wait is set. */
static int uhyve_arm(struct netdev *dev)
{
	struct uhyve_net *n = dev->priv;
	volatile struct net_ring *r = n->rx.hdr;

	r->wait = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* wait stored, then head read: see poll */
	return uhyve_pending(dev);
}

static int uhyve_poll(struct netdev *dev)
{
	struct uhyve_net *n = dev->priv;
	volatile struct net_ring *r = n->rx.hdr;
	int count = 0;

	for (;;) {
		uint64_t tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		if (head - tail > HERMIT_NET_SLOTS) { /* the loader broke the ring: resync */
			__atomic_store_n(&r->tail, head, __ATOMIC_RELEASE);
			break;
		}
		if (tail == head) {
			if (count)
				break;
			/* empty: ask to be woken by the next frame (the loader ends the
			 * cpus' HC_IDLE), then look once more */
			r->wait = 1;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (tail == __atomic_load_n(&r->head, __ATOMIC_ACQUIRE))
				break;
		}
		const uint8_t *s = slot(&n->rx, tail);
		uint64_t len = *(const volatile uint64_t *)s;
		if (len <= HERMIT_NET_FRAME_MAX) /* the loader checks too; a bad one is dropped */
			netdev_rx(dev, s + 8, len);
		__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
		count++;
	}
	return count;
}

static int ring_alloc(struct ring *r)
{
	uint64_t pages = ALIGN_UP(HERMIT_NET_RING_BYTES, PAGE_SIZE) / PAGE_SIZE;
	uint64_t at = page_alloc(pages, 1);
	if (!at)
		return -ENOMEM;
	r->hdr = (volatile struct net_ring *)at;
	r->slots = (uint8_t *)at + HERMIT_NET_RING_SLOTS;
	return 0;
}

struct netdev *uhyve_net_probe(void)
{
	uint64_t pages = ALIGN_UP(HERMIT_NET_RING_BYTES, PAGE_SIZE) / PAGE_SIZE;

	if (ring_alloc(&nic.rx))
		return 0;
	if (ring_alloc(&nic.tx)) {
		page_free((uint64_t)nic.rx.hdr, pages);
		return 0;
	}
	nic.hc.rx = (uint64_t)nic.rx.hdr;
	nic.hc.tx = (uint64_t)nic.tx.hdr;
	arch_hypercall(HC_NET_OPEN, &nic.hc);
	if (nic.hc.ret) {
		page_free(nic.hc.rx, pages);
		page_free(nic.hc.tx, pages);
		return 0;
	}
	for (int i = 0; i < 6; i++)
		nic.dev.mac[i] = (uint8_t)(nic.hc.mac >> (8 * i));
	nic.dev.mtu = nic.hc.mtu ? (uint16_t)nic.hc.mtu : 1500;
	nic.dev.name = "uhyve-net";
	nic.dev.xmit = uhyve_xmit;
	nic.dev.poll = uhyve_poll;
	nic.dev.pending = uhyve_pending;
	if (!arch_timer_available()) /* kvm_pvm: idle cpus sleep in HC_IDLE, else they halt */
		nic.dev.arm = uhyve_arm;
	nic.dev.priv = &nic;
	return &nic.dev;
}
