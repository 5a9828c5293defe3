/* A virtio 1.x device as virtio_net.c drives it, whatever the transport
 * (virtio_mmio.c: QEMU microvm; virtio_pci.c: pc and q35). */
#ifndef DRIVERS_NET_VIRTIO_H
#define DRIVERS_NET_VIRTIO_H

#include <stdint.h>

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_FAILED 128
#define VIRTIO_ID_NET 1
#define VIRTIO_F_VERSION_1 32

struct virtio_transport {
	const char *name;
	uint64_t (*features)(void);
	void (*set_features)(uint64_t f);
	uint8_t (*status)(void);
	void (*set_status)(uint8_t s);
	/* queue q with `size` entries at these guest-physical addresses, enabled:
	 * 0, or -1 when the device offers fewer entries or no such queue */
	int (*queue)(unsigned q, unsigned size, uint64_t desc, uint64_t avail, uint64_t used);
	void (*notify)(unsigned q);
	uint8_t (*config8)(unsigned off); /* the device-specific configuration */
};

/* Each finds the first virtio device of type `id` (a virtio 1.x one), or NULL. */
const struct virtio_transport *virtio_mmio_find(unsigned id);
const struct virtio_transport *virtio_pci_find(unsigned id);
int virtio_pci_present(void); /* a PCI bus (pc, q35): then no virtio-mmio is looked for */

#endif
