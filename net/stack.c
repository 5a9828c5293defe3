/* The stack's life: started at the first socket() (lwIP's heap, its loopback
 * interface 127.0.0.1, the NIC that netdev_first() offers, if any), and pumped:
 * loopback packets delivered, the NIC polled, lwIP's timers run, at each socket
 * call and whenever a thread waiting in poll_block() wakes.  Waiting threads wake
 * by lwIP's next timer at the latest (net_wait_deadline), so TCP's timers run
 * while anyone waits on the network.  While nobody does, the scheduler's timer
 * path calls net_background() at net_background_due (kept by every pump): lwIP's
 * next timer while TCP connections exist, and the NIC every NIC_BACKGROUND_NS. */
#include <stddef.h>

#include <hermit/kernel.h>
#include <hermit/netdev.h>
#include <hermit/poll.h>
#include <hermit/task.h>

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "sock.h"

static int started;
static struct netdev *nic;
static struct netif nic_netif;

#define DHCP_WAIT_NS (3000ULL * 1000000ULL)
#define NIC_POLL_NS (1000ULL * 1000ULL) /* no interrupts on kvm_pvm: a waiter polls */
#define LINGER_NS (5000ULL * 1000000ULL) /* at exit, for what TCP has not delivered */
/* nobody waits: the NIC's frames are taken (and TCP acknowledges them) this often */
#define NIC_BACKGROUND_NS (10ULL * 1000ULL * 1000ULL)

uint64_t net_background_due = NO_DEADLINE;

static err_t nic_output(struct netif *netif, struct pbuf *p)
{
	static uint8_t frame[1518 + 4]; /* under the kernel lock; the driver copies it */
	struct netdev *dev = netif->state;

	if (p->tot_len > sizeof(frame))
		return ERR_BUF;
	pbuf_copy_partial(p, frame, p->tot_len, 0);
	return dev->xmit(dev, frame, p->tot_len) ? ERR_IF : ERR_OK;
}

static err_t nic_init(struct netif *netif)
{
	struct netdev *dev = netif->state;

	netif->name[0] = 'e';
	netif->name[1] = 'n';
	netif->output = etharp_output;
	netif->linkoutput = nic_output;
	netif->mtu = dev->mtu ? dev->mtu : 1500;
	netif->hwaddr_len = 6;
	memcpy(netif->hwaddr, dev->mac, 6);
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
		       NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

void netdev_rx(struct netdev *dev, const void *frame, size_t len)
{
	if (dev != nic || !len || len > 0xffff)
		return;
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (!p)
		return; /* dropped: TCP sends it again */
	pbuf_take(p, frame, (u16_t)len);
	if (nic_netif.input(p, &nic_netif) != ERR_OK)
		pbuf_free(p);
}

/* The address: the loader's static one (a tap device: boot_info.net_*), else DHCP
 * from the user-mode network, else QEMU's and slirp's default (10.0.2.15/24, gateway
 * 10.0.2.2) when no answer came within 3 s. */
static void nic_start(void)
{
	ip4_addr_t any = { 0 };

	if (!netif_add(&nic_netif, &any, &any, &any, nic, nic_init, ethernet_input))
		return;
	netif_set_default(&nic_netif);
	if (boot_info->net_ip) {
		ip4_addr_t ip = { (u32_t)boot_info->net_ip };
		ip4_addr_t mask = { (u32_t)boot_info->net_mask };
		ip4_addr_t gw = { (u32_t)boot_info->net_gw };

		netif_set_addr(&nic_netif, &ip, &mask, &gw);
		netif_set_up(&nic_netif); /* after the address: announced by gratuitous ARP */
		return;
	}
	netif_set_up(&nic_netif);
	dhcp_start(&nic_netif);
	uint64_t until = time_monotonic_ns() + DHCP_WAIT_NS;
	while (!dhcp_supplied_address(&nic_netif) && time_monotonic_ns() < until) {
		net_pump();
		sched_block(time_monotonic_ns() + NIC_POLL_NS);
	}
	if (dhcp_supplied_address(&nic_netif))
		return;
	dhcp_stop(&nic_netif);
	ip4_addr_t ip, mask, gw;
	IP4_ADDR(&ip, 10, 0, 2, 15);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	IP4_ADDR(&gw, 10, 0, 2, 2);
	netif_set_addr(&nic_netif, &ip, &mask, &gw);
	kprintf("hermit: no DHCP answer on %s, using 10.0.2.15/24 via 10.0.2.2\n", nic->name);
}

int net_start(void)
{
	if (started)
		return 0;
	uint64_t heap = page_alloc(ALIGN_UP(MEM_SIZE + 4096, PAGE_SIZE) / PAGE_SIZE, 0);
	if (!heap)
		return -1;
	net_heap = (void *)heap;
	lwip_init(); /* with the loopback interface, 127.0.0.1 */
	started = 1;
	/* published for net_rx_pending()'s lockless look, rings set up by the probe */
	__atomic_store_n(&nic, netdev_first(), __ATOMIC_RELEASE);
	if (nic)
		nic_start();
	return 0;
}

static int loop_pending(void)
{
	struct netif *n;

	NETIF_FOREACH(n)
		if (n->loop_first)
			return 1;
	return 0;
}

/* When net_background() is next needed: lwIP's timers matter only with a NIC or
 * TCP connections (a listener needs none); loopback packets never wait (every
 * pump delivers them all). */
static void background_update(void)
{
	if (!nic && !tcp_active_pcbs && !tcp_tw_pcbs) {
		net_background_due = NO_DEADLINE;
		return;
	}
	uint64_t now = time_monotonic_ns();
	u32_t ms = sys_timeouts_sleeptime();
	uint64_t d = ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? NO_DEADLINE : now + (uint64_t)ms * 1000000ULL;
	if (nic && d > now + NIC_BACKGROUND_NS)
		d = now + NIC_BACKGROUND_NS;
	net_background_due = d;
	sched_timer_at(d); /* this cpu may go back to computing at once */
}

void net_pump(void)
{
	if (!started)
		return;
	if (nic && nic->flush)
		nic->hold = 1;
	for (int round = 0; round < 64; round++) {
		if (nic)
			nic->poll(nic);
		netif_poll_all();
		sys_check_timeouts();
		if (!loop_pending())
			break;
	}
	if (nic && nic->flush) {
		nic->hold = 0;
		nic->flush(nic);
	}
	background_update();
}

void net_background(void)
{
	if (time_monotonic_ns() >= net_background_due || net_rx_pending())
		net_pump();
}

int net_rx_pending(void)
{
	struct netdev *d = __atomic_load_n(&nic, __ATOMIC_ACQUIRE);

	return d && d->pending && d->pending(d);
}

/* Before an idle cpu sleeps in the loader: 1 when frames wait (it must not sleep),
 * else 0, the NIC asked to wake it at the next frame where it can. */
int net_idle_arm(void)
{
	struct netdev *d = __atomic_load_n(&nic, __ATOMIC_ACQUIRE);

	return d && d->arm ? d->arm(d) : net_rx_pending();
}

uint64_t net_wait_deadline(uint64_t deadline)
{
	if (!started)
		return deadline;
	uint64_t now = time_monotonic_ns();
	u32_t ms = sys_timeouts_sleeptime();
	uint64_t d = ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? NO_DEADLINE : now + (uint64_t)ms * 1000000ULL;
	/* Without interrupts a waiter polls the NIC, unless the NIC wakes idle cpus
	 * (arm: uhyve's on kvm_pvm, whose cpus sleep in the loader).  A polling deadline
	 * would keep idle cpus spinning (kernel/sched.c: idle_poll), taking the host's
	 * cpus from the loader's NIC thread. */
	if (nic && !nic->arm && d > now + NIC_POLL_NS)
		d = now + NIC_POLL_NS;
	return d < deadline ? d : deadline;
}

static int tcp_pending(void)
{
	for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
		if (p->unsent || p->unacked)
			return 1;
	return 0;
}

/* The process ends (exit_group, the last thread): what it wrote to TCP connections,
 * closed or not, may still wait in lwIP's queues.  Linux sends it after the process
 * is gone; here the VM would end first, so the stack runs on until the peers have
 * acknowledged all of it, for LINGER_NS at most.  Under the kernel lock. */
void net_linger(void)
{
	if (!started)
		return;
	const uint64_t until = time_monotonic_ns() + LINGER_NS;
	net_pump();
	while (tcp_pending() && time_monotonic_ns() < until) {
		sched_block(net_wait_deadline(time_monotonic_ns() + NIC_POLL_NS));
		net_pump();
	}
}

/* Is addr one of ours (bind's EADDRNOTAVAIL)? */
int net_local_addr(const ip4_addr_t *addr)
{
	struct netif *n;

	if (ip4_addr_isany(addr) || ip4_addr_isloopback(addr))
		return 1;
	NETIF_FOREACH(n)
		if (ip4_addr_cmp(netif_ip4_addr(n), addr))
			return 1;
	return 0;
}
