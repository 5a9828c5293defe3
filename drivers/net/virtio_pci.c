/* virtio 1.x over PCI (the virtio specification, 4.1): a modern device's common,
 * notify and device configuration structures, found through its vendor
 * capabilities in memory BARs (pc and q35, BARs placed by the firmware). */
#include <hermit/arch.h>
#include "virtio.h"

#define VENDOR_VIRTIO 0x1af4
#define DEVICE_MODERN_BASE 0x1040 /* + the virtio device id */
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS_CAPS 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define CAP_VENDOR 0x09
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_DEVICE 4

/* struct virtio_pci_common_cfg */
struct common {
	uint32_t device_feature_select, device_feature, driver_feature_select, driver_feature;
	uint16_t msix_config, num_queues;
	uint8_t device_status, config_generation;
	uint16_t queue_select, queue_size, queue_msix_vector, queue_enable, queue_notify_off;
	uint32_t queue_desc[2], queue_driver[2], queue_device[2]; /* 64-bit, as two halves */
};

static volatile struct common *common;
static volatile uint8_t *notify_base, *device_cfg;
static uint32_t notify_mult;
static uint16_t notify_off[2];

static uint64_t features(void)
{
	common->device_feature_select = 0;
	uint64_t lo = common->device_feature;
	common->device_feature_select = 1;
	return lo | (uint64_t)common->device_feature << 32;
}

static void set_features(uint64_t f)
{
	common->driver_feature_select = 0;
	common->driver_feature = (uint32_t)f;
	common->driver_feature_select = 1;
	common->driver_feature = (uint32_t)(f >> 32);
}

static uint8_t status(void)
{
	return common->device_status;
}

static void set_status(uint8_t s)
{
	common->device_status = s;
}

static int queue(unsigned q, unsigned size, uint64_t desc, uint64_t avail, uint64_t used)
{
	if (q >= 2 || q >= common->num_queues)
		return -1;
	common->queue_select = (uint16_t)q;
	if (common->queue_enable || common->queue_size < size)
		return -1;
	common->queue_size = (uint16_t)size;
	common->queue_msix_vector = 0xffff; /* polled: no interrupt */
	common->queue_desc[0] = (uint32_t)desc;
	common->queue_desc[1] = (uint32_t)(desc >> 32);
	common->queue_driver[0] = (uint32_t)avail;
	common->queue_driver[1] = (uint32_t)(avail >> 32);
	common->queue_device[0] = (uint32_t)used;
	common->queue_device[1] = (uint32_t)(used >> 32);
	notify_off[q] = common->queue_notify_off;
	common->queue_enable = 1;
	return 0;
}

static void notify(unsigned q)
{
	*(volatile uint16_t *)(notify_base + notify_off[q] * notify_mult) = (uint16_t)q;
}

static uint8_t config8(unsigned off)
{
	return device_cfg[off];
}

static const struct virtio_transport pci = {
	"virtio-pci", features, set_features, status, set_status, queue, notify, config8,
};

/* The address of BAR `bar` (a memory BAR, mapped), or 0. */
static uint64_t bar_address(unsigned dev, unsigned bar)
{
	if (bar > 5)
		return 0;
	uint32_t lo = arch_pci_read32(0, dev, 0, PCI_BAR0 + 4 * bar);
	if (lo & 1)
		return 0; /* an I/O BAR */
	uint64_t addr = lo & ~0xfULL;
	if ((lo & 6) == 4 && bar < 5)
		addr |= (uint64_t)arch_pci_read32(0, dev, 0, PCI_BAR0 + 4 * (bar + 1)) << 32;
	return addr;
}

static volatile uint8_t *cap_address(unsigned dev, uint8_t at, uint32_t *len)
{
	unsigned bar = arch_pci_read32(0, dev, 0, at + 4) & 0xff;
	uint32_t off = arch_pci_read32(0, dev, 0, at + 8);
	*len = arch_pci_read32(0, dev, 0, at + 12);
	uint64_t base = bar_address(dev, bar);
	if (!base || arch_map_mmio(base + off, *len))
		return 0;
	return (volatile uint8_t *)(base + off);
}

static int setup(unsigned dev)
{
	uint32_t cmd = arch_pci_read32(0, dev, 0, PCI_COMMAND);
	if (!(cmd >> 16 & PCI_STATUS_CAPS))
		return -1;
	arch_pci_write32(0, dev, 0, PCI_COMMAND,
			 (cmd & 0xffff) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	common = 0;
	notify_base = device_cfg = 0;
	uint8_t at = arch_pci_read32(0, dev, 0, PCI_CAP_PTR) & 0xfc;
	for (int guard = 0; at && guard < 48; guard++) {
		uint32_t head = arch_pci_read32(0, dev, 0, at), len;
		if ((head & 0xff) == CAP_VENDOR) {
			unsigned type = head >> 24 & 0xff;
			if (type == CFG_COMMON && !common)
				common = (volatile struct common *)cap_address(dev, at, &len);
			else if (type == CFG_NOTIFY && !notify_base) {
				notify_base = cap_address(dev, at, &len);
				notify_mult = arch_pci_read32(0, dev, 0, at + 16);
			} else if (type == CFG_DEVICE && !device_cfg)
				device_cfg = cap_address(dev, at, &len);
		}
		at = head >> 8 & 0xfc;
	}
	return common && notify_base && device_cfg ? 0 : -1;
}

int virtio_pci_present(void)
{
	return arch_pci_read32(0, 0, 0, 0) != 0xffffffff; /* a host bridge answers */
}

const struct virtio_transport *virtio_pci_find(unsigned id)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t ids = arch_pci_read32(0, dev, 0, 0);
		if ((ids & 0xffff) == VENDOR_VIRTIO && ids >> 16 == DEVICE_MODERN_BASE + id &&
		    !setup(dev))
			return &pci;
	}
	return 0;
}
