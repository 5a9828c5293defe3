/*
 * virtio-net 1.x, polled: no interrupt is used, so it works where none reaches the
 * guest (kvm_pvm).  Over virtio-mmio (QEMU microvm) or PCI (pc, q35): virtio.h.
 * Receiving costs no VM exit: poll() reads the used ring in memory and gives the
 * buffers back, and notifies the device only when it asks for it (NO_NOTIFY
 * clear).  Sending notifies the device unless it said it needs no notice.
 */
#include <errno.h>

#include <hermit/arch.h>
#include "drivers.h"
#include "virtio.h"

#define QSIZE 128  /* descriptors per queue, a power of two */
#define BUF_SIZE 2048
#define HDR_LEN 12 /* struct virtio_net_hdr_v1: with VERSION_1 num_buffers is always there */
#define RXQ 0
#define TXQ 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VRING_DESC_F_WRITE 2
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct {
		uint32_t id, len;
	} ring[];
};

struct vq {
	struct vring_desc *desc;
	volatile struct vring_avail *avail;
	volatile struct vring_used *used;
	uint8_t *bufs;         /* QSIZE buffers of BUF_SIZE */
	uint16_t last_used;    /* used entries seen so far */
	uint16_t free;         /* tx: descriptors not with the device */
};

static struct virtio_net {
	struct netdev dev;
	const struct virtio_transport *t;
	struct vq q[2];
	int tx_held; /* frames queued without a doorbell (dev.hold) */
} vn;

static void notify(unsigned q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the ring before the doorbell */
	vn.t->notify(q);
}

static int vq_setup(unsigned index)
{
	struct vq *q = &vn.q[index];
	/* descriptors, avail ring and used ring, a page each, then the buffers */
	uint64_t pages = 3 + QSIZE * BUF_SIZE / PAGE_SIZE;
	uint64_t at = page_alloc(pages, 1);
	if (!at)
		return -ENOMEM;
	q->desc = (struct vring_desc *)at;
	q->avail = (volatile struct vring_avail *)(at + PAGE_SIZE);
	q->used = (volatile struct vring_used *)(at + 2 * PAGE_SIZE);
	q->bufs = (uint8_t *)(at + 3 * PAGE_SIZE);
	for (unsigned i = 0; i < QSIZE; i++) {
		q->desc[i].addr = (uint64_t)(q->bufs + i * BUF_SIZE);
		q->desc[i].len = BUF_SIZE;
		q->desc[i].flags = index == RXQ ? VRING_DESC_F_WRITE : 0;
		q->desc[i].next = 0;
	}
	if (index == RXQ) { /* every buffer to the device */
		for (unsigned i = 0; i < QSIZE; i++)
			q->avail->ring[i] = (uint16_t)i;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		q->avail->idx = QSIZE;
	} else {
		q->free = QSIZE;
	}
	if (vn.t->queue(index, QSIZE, at, at + PAGE_SIZE, at + 2 * PAGE_SIZE)) {
		page_free(at, pages);
		return -ENODEV;
	}
	return 0;
}

static void tx_reclaim(struct vq *q)
{
	uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	q->free += (uint16_t)(used - q->last_used);
	q->last_used = used;
}

/* Ring tx's doorbell for what is queued, unless the device said it needs none. */
static void tx_doorbell(void)
{
	vn.tx_held = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(vn.q[TXQ].used->flags & VRING_USED_F_NO_NOTIFY))
		notify(TXQ);
}

static int virtio_xmit(struct netdev *dev, const void *frame, size_t len)
{
	struct vq *q = &vn.q[TXQ];

	if (len > BUF_SIZE - HDR_LEN || len < 14)
		return -EINVAL;
	if (!q->free)
		tx_reclaim(q);
	if (!q->free)
		return -EAGAIN;
	/* the device completes in order on this queue: the next slot is free */
	uint16_t idx = q->avail->idx, d = idx & (QSIZE - 1);
	uint8_t *buf = q->bufs + d * BUF_SIZE;
	memset(buf, 0, HDR_LEN);
	memcpy(buf + HDR_LEN, frame, len);
	q->desc[d].len = (uint32_t)(HDR_LEN + len);
	q->avail->ring[d] = d;
	__atomic_store_n(&q->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	q->free--;
	if (dev->hold && q->free) { /* a full ring rings at once */
		vn.tx_held = 1; /* virtio_flush rings once for the batch */
		return 0;
	}
	tx_doorbell();
	return 0;
}

static void virtio_flush(struct netdev *dev)
{
	(void)dev;
	if (vn.tx_held)
		tx_doorbell();
}

static int virtio_poll(struct netdev *dev)
{
	struct vq *q = &vn.q[RXQ];
	uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(used - q->last_used);

	if (n > QSIZE) /* the device broke the ring: take nothing */
		return 0;
	for (uint16_t i = 0; i < n; i++) {
		uint32_t id = q->used->ring[(q->last_used + i) & (QSIZE - 1)].id;
		uint32_t len = q->used->ring[(q->last_used + i) & (QSIZE - 1)].len;
		id &= QSIZE - 1;
		if (len > HDR_LEN && len <= BUF_SIZE)
			netdev_rx(dev, q->bufs + id * BUF_SIZE + HDR_LEN, len - HDR_LEN);
		uint16_t a = q->avail->idx;
		q->avail->ring[a & (QSIZE - 1)] = (uint16_t)id;
		__atomic_store_n(&q->avail->idx, (uint16_t)(a + 1), __ATOMIC_RELEASE);
	}
	q->last_used = used;
	/* the device clears NO_NOTIFY when it found no buffer and waits for a notice
	 * (QEMU then holds frames back until one comes); while it has buffers, none */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (n && !(q->used->flags & VRING_USED_F_NO_NOTIFY))
		notify(RXQ);
	tx_reclaim(&vn.q[TXQ]);
	return n;
}

static int virtio_pending(struct netdev *dev)
{
	struct vq *q = &vn.q[RXQ];

	(void)dev;
	return __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) != q->last_used;
}

static int setup(void)
{
	const struct virtio_transport *t = vn.t;

	t->set_status(0); /* reset */
	t->set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t offered = t->features();
	if (!(offered & (1ULL << VIRTIO_F_VERSION_1)))
		return -ENODEV;
	uint64_t want = offered & ((1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_MTU));
	t->set_features(want | 1ULL << VIRTIO_F_VERSION_1);
	t->set_status(t->status() | VIRTIO_STATUS_FEATURES_OK);
	if (!(t->status() & VIRTIO_STATUS_FEATURES_OK))
		return -ENODEV;
	if (vq_setup(RXQ) || vq_setup(TXQ))
		return -ENODEV;
	for (unsigned i = 0; i < 6; i++)
		vn.dev.mac[i] = want & (1ULL << VIRTIO_NET_F_MAC) ? t->config8(i)
								   : (uint8_t)(i ? 0x56 + i : 0x52);
	uint16_t mtu = want & (1ULL << VIRTIO_NET_F_MTU) ? (uint16_t)(t->config8(10) |
								     t->config8(11) << 8) : 0;
	vn.dev.mtu = mtu >= 576 && mtu <= BUF_SIZE - HDR_LEN - 14 ? mtu : 1500;
	t->set_status(t->status() | VIRTIO_STATUS_DRIVER_OK);
	notify(RXQ); /* the buffers are there */
	return 0;
}

struct netdev *virtio_net_probe(void)
{
	vn.t = virtio_pci_present() ? virtio_pci_find(VIRTIO_ID_NET)
				    : virtio_mmio_find(VIRTIO_ID_NET);
	if (!vn.t)
		return 0;
	if (setup()) {
		vn.t->set_status(VIRTIO_STATUS_FAILED);
		kprintf("hermit: %s: a virtio-net we cannot drive\n", vn.t->name);
		return 0;
	}
	kprintf("hermit: virtio-net over %s\n", vn.t->name);
	vn.dev.name = "virtio-net";
	vn.dev.xmit = virtio_xmit;
	vn.dev.poll = virtio_poll;
	vn.dev.pending = virtio_pending;
	vn.dev.flush = virtio_flush;
	vn.dev.priv = &vn;
	return &vn.dev;
}
