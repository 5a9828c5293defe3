/* The kernel's side of the network when an image has none: socket() says
 * ENOSYS, as before there was a network; pipes, socket pairs, eventfds, poll and
 * epoll work all the same.  Always part of the kernel's core member of
 * libhermit.a, and weak: the network member (net/, lwIP, drivers/net), which the
 * link pulls in when the application calls socket() (sdk/socket.c), brings the
 * strong definitions.  So an image that never opens a socket carries no network,
 * and one built with Meson's net=disabled never has one. */
#include <errno.h>

#include <hermit/kernel.h>
#include <hermit/net.h>
#include <hermit/poll.h>
#include <hermit/task.h>

#define WEAK __attribute__((weak))

WEAK long net_socket(int domain, int type, int proto)
{
	static int told;

	(void)domain, (void)type, (void)proto;
	if (!told++)
#ifdef HERMIT_NET_LINKABLE
		kprintf("hermit: no network in this image (nothing in it calls socket(); "
			"link with -Wl,-u,__hermit_net), socket() returns -ENOSYS\n");
#else
		kprintf("hermit: built without the network (Meson option net), socket() returns -ENOSYS\n");
#endif
	return -ENOSYS;
}

WEAK long net_sockcall(uint64_t nr, struct file *f, const long a[6])
{
	(void)nr, (void)f, (void)a;
	return -ENOTSOCK; /* no FILE_SOCKET exists without the stack */
}

WEAK void net_pump(void)
{
}

WEAK int net_rx_pending(void)
{
	return 0;
}

WEAK int net_idle_arm(void)
{
	return 0;
}

WEAK void net_linger(void)
{
}

WEAK uint64_t net_wait_deadline(uint64_t deadline)
{
	return deadline;
}

WEAK uint64_t net_background_due = NO_DEADLINE;

WEAK void net_background(void)
{
}
