/*
 * virtio-net 1.x over virtio-mmio (QEMU microvm), polled: no interrupt is used,
 * so it works where none reaches the guest (kvm_pvm).  Receiving costs no VM
 * exit: poll() reads the used ring in memory and gives the buffers back, and
 * notifies the device only when it asks for it (VRING_USED_F_NO_NOTIFY clear).
 * Sending notifies the device unless it said it needs no notice.
 */
#include <errno.h>

#include <hermit/arch.h>
#include "drivers.h"
#include "virtio_mmio.h"

#define QSIZE 128  /* descriptors per queue, a power of two */
#define BUF_SIZE 2048
#define HDR_LEN 12 /* struct virtio_net_hdr_v1: with VERSION_1 num_buffers is always there */
#define RXQ 0
#define TXQ 1

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
	volatile uint32_t *regs;
	struct vq q[2];
} vn;

static uint32_t rd(unsigned off)
{
	return vn.regs[off / 4];
}

static void wr(unsigned off, uint32_t v)
{
	vn.regs[off / 4] = v;
}

static void notify(unsigned q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the ring before the doorbell */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
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
	wr(VIRTIO_MMIO_QUEUE_SEL, index);
	if (rd(VIRTIO_MMIO_QUEUE_READY) || rd(VIRTIO_MMIO_QUEUE_NUM_MAX) < QSIZE) {
		page_free(at, pages);
		return -ENODEV;
	}
	wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	uint64_t d = (uint64_t)q->desc, a = (uint64_t)q->avail, u = (uint64_t)q->used;
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d >> 32));
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)a);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(a >> 32));
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)u);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(u >> 32));
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
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	return 0;
}

static void tx_reclaim(struct vq *q)
{
	uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	q->free += (uint16_t)(used - q->last_used);
	q->last_used = used;
}

static int virtio_xmit(struct netdev *dev, const void *frame, size_t len)
{
	struct vq *q = &vn.q[TXQ];
	(void)dev;

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
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(q->used->flags & VRING_USED_F_NO_NOTIFY))
		notify(TXQ);
	return 0;
}

static int virtio_poll(struct netdev *dev)
{
	struct vq *q = &vn.q[RXQ];
	uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(used - q->last_used);

	for (uint16_t i = 0; i < n; i++) {
		volatile struct vring_used_elem *e = &q->used->ring[(q->last_used + i) & (QSIZE - 1)];
		uint32_t id = e->id, len = e->len;
		if (id < QSIZE && len > HDR_LEN && len <= BUF_SIZE)
			netdev_rx(dev, q->bufs + id * BUF_SIZE + HDR_LEN, len - HDR_LEN);
		uint16_t a = q->avail->idx;
		q->avail->ring[a & (QSIZE - 1)] = (uint16_t)(id & (QSIZE - 1));
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

static int setup(void)
{
	if (rd(VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE || rd(VIRTIO_MMIO_VERSION) != 2 ||
	    rd(VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_NET)
		return -ENODEV;
	wr(VIRTIO_MMIO_STATUS, 0); /* reset */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint32_t hi = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	if (!(hi & (1u << (VIRTIO_F_VERSION_1 - 32))))
		return -ENODEV;
	uint32_t want = lo & ((1u << VIRTIO_NET_F_MAC) | (1u << VIRTIO_NET_F_MTU));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, want);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FEATURES_OK);
	if (!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return -ENODEV;
	if (vq_setup(RXQ) || vq_setup(TXQ))
		return -ENODEV;
	volatile uint8_t *cfg = (volatile uint8_t *)vn.regs + VIRTIO_MMIO_CONFIG;
	for (int i = 0; i < 6; i++)
		vn.dev.mac[i] = want & (1u << VIRTIO_NET_F_MAC) ? cfg[i] : (uint8_t)(i ? 0x56 + i : 0x52);
	uint16_t mtu = want & (1u << VIRTIO_NET_F_MTU) ? (uint16_t)(cfg[10] | cfg[11] << 8) : 0;
	vn.dev.mtu = mtu >= 576 && mtu <= BUF_SIZE - HDR_LEN - 14 ? mtu : 1500;
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	notify(RXQ); /* the buffers are there */
	return 0;
}

struct netdev *virtio_net_probe(void)
{
	uint64_t base, stride;
	unsigned count;

	arch_virtio_mmio(&base, &count, &stride);
	if (!count || arch_map_mmio(base, count * stride))
		return 0;
	for (unsigned i = 0; i < count; i++) {
		vn.regs = (volatile uint32_t *)(base + i * stride);
		if (rd(VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE ||
		    rd(VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_NET)
			continue;
		if (setup()) {
			wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
			kprintf("hermit: virtio-net at %#lx: not a virtio 1.x device we can drive\n",
				(unsigned long)(base + i * stride));
			continue;
		}
		vn.dev.name = "virtio-net";
		vn.dev.xmit = virtio_xmit;
		vn.dev.poll = virtio_poll;
		vn.dev.priv = &vn;
		return &vn.dev;
	}
	return 0;
}
