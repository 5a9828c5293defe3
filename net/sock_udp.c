/* UDP sockets over lwIP's raw API: received datagrams wait in a queue (up to
 * SO_RCVBUF bytes; the rest is dropped, as on Linux), sent ones go out at once. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <hermit/kernel.h>
#include <hermit/poll.h>
#include <hermit/task.h>

#include "lwip/mem.h"

#include "sock.h"

#define UDP_MAX 65507 /* the largest IPv4 UDP payload */

static void on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
		    u16_t port)
{
	struct sock *s = arg;
	struct dgram *d;

	(void)pcb;
	if (s->dq_bytes + p->tot_len > (size_t)s->rcvbuf || !(d = mem_malloc(sizeof(*d)))) {
		pbuf_free(p);
		return;
	}
	*d = (struct dgram){ .p = p, .addr = *addr, .port = port };
	*s->dq_tail = d;
	s->dq_tail = &d->next;
	s->dq_bytes += p->tot_len;
	sock_notify(s);
}

static void keep_addrs(struct sock *s)
{
	s->local_ip = s->udp->local_ip;
	s->local_port = s->udp->local_port;
	s->peer_ip = s->udp->remote_ip;
	s->peer_port = s->udp->remote_port;
}

long udp_sock_init(struct sock *s)
{
	s->udp = udp_new();
	if (!s->udp)
		return -ENOMEM;
	udp_recv(s->udp, on_recv, s);
	return 0;
}

long udp_sock_bind(struct sock *s, const ip_addr_t *ip, u16_t port)
{
	if (s->udp->local_port)
		return -EINVAL;
	if (s->reuseaddr)
		ip_set_option(s->udp, SOF_REUSEADDR);
	long r = err_to_errno(udp_bind(s->udp, ip, port));
	keep_addrs(s);
	return r;
}

long udp_sock_connect(struct sock *s, const ip_addr_t *ip, u16_t port)
{
	if (!ip) {
		udp_disconnect(s->udp);
		s->state = SS_NEW;
		keep_addrs(s);
		return 0;
	}
	long r = err_to_errno(udp_connect(s->udp, ip, port));
	if (!r)
		s->state = SS_CONNECTED;
	keep_addrs(s);
	return r;
}

long udp_sock_send(struct sock *s, const struct uio *u, const ip_addr_t *ip, u16_t port, int flags)
{
	size_t n = uio_len(u);

	(void)flags;
	if (s->err) {
		long e = -s->err;
		s->err = 0;
		return e;
	}
	if (!ip && s->state != SS_CONNECTED)
		return -EDESTADDRREQ;
	if (n > UDP_MAX)
		return -EMSGSIZE;
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)n, PBUF_RAM);
	if (!p)
		return -ENOBUFS;
	if (uio_get(u, 0, p->payload, n)) {
		pbuf_free(p);
		return -EFAULT;
	}
	err_t e = ip ? udp_sendto(s->udp, p, ip, port) : udp_send(s->udp, p);
	pbuf_free(p);
	keep_addrs(s);
	if (e == ERR_RTE)
		return -ENETUNREACH;
	if (e != ERR_OK)
		return err_to_errno(e);
	net_pump();
	return (long)n;
}

long udp_sock_recv(struct sock *s, const struct uio *u, int flags, int nonblock,
		   ip_addr_t *from, u16_t *port, size_t *full)
{
	uint64_t deadline = sock_deadline(s->rcvtimeo);

	while (!s->dq) {
		if (s->shut_rd)
			return 0;
		long r = sock_wait(nonblock || (flags & MSG_DONTWAIT), deadline);
		if (r)
			return r;
	}
	struct dgram *d = s->dq;
	size_t n = uio_len(u), len = d->p->tot_len;
	if (n > len)
		n = len;
	for (size_t at = 0, k; at < n; at += k) {
		void *dst = uio_span(u, at, n - at, &k);
		if (!dst)
			return -EFAULT;
		pbuf_copy_partial(d->p, dst, (u16_t)k, (u16_t)at);
	}
	*from = d->addr;
	*port = d->port;
	*full = len;
	if (!(flags & MSG_PEEK)) {
		s->dq = d->next;
		if (!s->dq)
			s->dq_tail = &s->dq;
		s->dq_bytes -= len;
		pbuf_free(d->p);
		mem_free(d);
	}
	return (long)n;
}

unsigned udp_sock_poll(struct sock *s)
{
	unsigned ev = POLLOUT | POLLWRNORM;

	if (s->dq || s->shut_rd)
		ev |= POLLIN | POLLRDNORM;
	if (s->err)
		ev |= POLLERR;
	return ev;
}

void udp_sock_close(struct sock *s)
{
	udp_remove(s->udp);
	s->udp = 0;
	while (s->dq) {
		struct dgram *d = s->dq;
		s->dq = d->next;
		pbuf_free(d->p);
		mem_free(d);
	}
}
