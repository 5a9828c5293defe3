/* Built without the network stack (Meson option net=disabled, or lwIP's source
 * missing): socket() says ENOSYS, as before there was a network; pipes, socket
 * pairs, eventfds, poll and epoll work all the same. */
#include <errno.h>

#include <hermit/kernel.h>
#include <hermit/net.h>
#include <hermit/poll.h>

long net_socket(int domain, int type, int proto)
{
	static int told;

	(void)domain, (void)type, (void)proto;
	if (!told++)
		kprintf("hermit: built without the network (Meson option net), socket() returns -ENOSYS\n");
	return -ENOSYS;
}

long net_sockcall(uint64_t nr, struct file *f, const long a[6])
{
	(void)nr, (void)f, (void)a;
	return -ENOTSOCK; /* no FILE_SOCKET exists without the stack */
}

void net_pump(void)
{
}

int net_rx_pending(void)
{
	return 0;
}

void net_linger(void)
{
}

uint64_t net_wait_deadline(uint64_t deadline)
{
	return deadline;
}

uint64_t net_background_due = NO_DEADLINE;

void net_background(void)
{
}
