/* One NIC as the network stack sees it (drivers/net/ provides them). */
#ifndef HERMIT_NETDEV_H
#define HERMIT_NETDEV_H
#include <stddef.h>
#include <stdint.h>

struct netdev {
	const char *name;       /* "uhyve-net", "virtio-net" */
	uint8_t mac[6];
	uint16_t mtu;           /* IP MTU, 1500 unless the device says otherwise */
	/* queue one Ethernet frame (copied before return): 0, or -errno (-EAGAIN: ring full) */
	int (*xmit)(struct netdev *dev, const void *frame, size_t len);
	/* hand every frame received since the last call to netdev_rx(); the count */
	int (*poll)(struct netdev *dev);
	/* whether frames wait for poll(): a look without the kernel lock and without
	 * side effects, for cpus that spin idle (no interrupts on kvm_pvm) */
	int (*pending)(struct netdev *dev);
	/* optional, where idle cpus sleep in the loader (HC_IDLE): ask the device to end
	 * that sleep at its next frame, like an interrupt; then whether frames wait
	 * already.  A device that has it needs no waiter to poll it (net_wait_deadline). */
	int (*arm)(struct netdev *dev);
	/* optional: ring the doorbell for frames xmit queued while `hold` was set
	 * (net_pump sets it: the frames one batch of received ones makes, ACKs mostly,
	 * then cost one doorbell, a VM exit, instead of one each) */
	void (*flush)(struct netdev *dev);
	int hold;
	void *priv;
};

/* The probed NIC, or NULL when the loader offers none (drivers/net/, net-host).
 * Probing is lazy: the first call probes; an image that never opens a socket
 * never starts a NIC. */
struct netdev *netdev_first(void);

/* A received frame, for the stack (net/, net-stack); called from dev->poll() or
 * the driver's interrupt/event path, in a context that may block briefly. */
void netdev_rx(struct netdev *dev, const void *frame, size_t len);

#endif
