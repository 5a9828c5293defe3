/* No NIC driver in this branch (net-stack): the stack runs on its loopback
 * interface alone.  drivers/net/ (net-host) provides the real netdev_first();
 * the merge drops this file. */
#include <stddef.h>

#include <hermit/netdev.h>

struct netdev *netdev_first(void)
{
	return NULL;
}
