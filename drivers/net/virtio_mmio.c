/* virtio 1.x over MMIO (the virtio specification, 4.2): QEMU microvm's transports,
 * where arch_virtio_mmio() says they are. */
#include <hermit/arch.h>
#include "virtio.h"

#define MAGIC 0x000
#define MAGIC_VALUE 0x74726976 /* "virt" */
#define VERSION 0x004
#define DEVICE_ID 0x008
#define DEVICE_FEATURES 0x010
#define DEVICE_FEATURES_SEL 0x014
#define DRIVER_FEATURES 0x020
#define DRIVER_FEATURES_SEL 0x024
#define QUEUE_SEL 0x030
#define QUEUE_NUM_MAX 0x034
#define QUEUE_NUM 0x038
#define QUEUE_READY 0x044
#define QUEUE_NOTIFY 0x050
#define STATUS 0x070
#define QUEUE_DESC_LOW 0x080
#define QUEUE_DESC_HIGH 0x084
#define QUEUE_DRIVER_LOW 0x090
#define QUEUE_DRIVER_HIGH 0x094
#define QUEUE_DEVICE_LOW 0x0a0
#define QUEUE_DEVICE_HIGH 0x0a4
#define CONFIG 0x100

static volatile uint32_t *regs;

static uint32_t rd(unsigned off)
{
	return regs[off / 4];
}

static void wr(unsigned off, uint32_t v)
{
	regs[off / 4] = v;
}

static uint64_t features(void)
{
	wr(DEVICE_FEATURES_SEL, 0);
	uint64_t lo = rd(DEVICE_FEATURES);
	wr(DEVICE_FEATURES_SEL, 1);
	return lo | (uint64_t)rd(DEVICE_FEATURES) << 32;
}

static void set_features(uint64_t f)
{
	wr(DRIVER_FEATURES_SEL, 0);
	wr(DRIVER_FEATURES, (uint32_t)f);
	wr(DRIVER_FEATURES_SEL, 1);
	wr(DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static uint8_t status(void)
{
	return (uint8_t)rd(STATUS);
}

static void set_status(uint8_t s)
{
	wr(STATUS, s);
}

static int queue(unsigned q, unsigned size, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(QUEUE_SEL, q);
	if (rd(QUEUE_READY) || rd(QUEUE_NUM_MAX) < size)
		return -1;
	wr(QUEUE_NUM, size);
	wr(QUEUE_DESC_LOW, (uint32_t)desc);
	wr(QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(QUEUE_DRIVER_LOW, (uint32_t)avail);
	wr(QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	wr(QUEUE_DEVICE_LOW, (uint32_t)used);
	wr(QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	wr(QUEUE_READY, 1);
	return 0;
}

static void notify(unsigned q)
{
	wr(QUEUE_NOTIFY, q);
}

static uint8_t config8(unsigned off)
{
	return ((volatile uint8_t *)regs)[CONFIG + off];
}

static const struct virtio_transport mmio = {
	"virtio-mmio", features, set_features, status, set_status, queue, notify, config8,
};

const struct virtio_transport *virtio_mmio_find(unsigned id)
{
	uint64_t base, stride;
	unsigned count;

	arch_virtio_mmio(&base, &count, &stride);
	if (!count || arch_map_mmio(base, count * stride))
		return 0;
	for (unsigned i = 0; i < count; i++) {
		regs = (volatile uint32_t *)(base + i * stride);
		if (rd(MAGIC) == MAGIC_VALUE && rd(VERSION) == 2 && rd(DEVICE_ID) == id)
			return &mmio;
	}
	return 0;
}
