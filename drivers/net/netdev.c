/*
 * netdev_first(): the one NIC, probed at the first call, so an image that never
 * uses the network never asks the loader for one (uhyve then never loads its
 * network backend) and boots as fast as before.  Called with the kernel lock held.
 */
#include <hermit/kernel.h>
#include "drivers.h"

static struct netdev *first;
static int probed;

struct netdev *netdev_first(void)
{
	if (probed)
		return first;
	probed = 1;
	first = boot_info->loader == HERMIT_LOADER_UHYVE ? uhyve_net_probe() : virtio_net_probe();
	if (first)
		kprintf("hermit: %s %02x:%02x:%02x:%02x:%02x:%02x, MTU %u\n", first->name,
			first->mac[0], first->mac[1], first->mac[2], first->mac[3], first->mac[4],
			first->mac[5], first->mtu);
	else
		kprintf("hermit: no NIC\n");
	return first;
}
