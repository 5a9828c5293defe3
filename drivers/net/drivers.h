/* The NIC drivers netdev_first() chooses from (drivers/net/). */
#ifndef DRIVERS_NET_DRIVERS_H
#define DRIVERS_NET_DRIVERS_H

#include <hermit/netdev.h>

/* Each returns its device, or NULL when the machine has none (nothing left set up). */
struct netdev *uhyve_net_probe(void);  /* uhyve_net.c: the loader's shared-memory rings */
struct netdev *virtio_net_probe(void); /* virtio_net.c: virtio-net 1.x over virtio-mmio */

#endif
