/* The socket calls on an IPv4 socket (kernel/socket.c hands them over with the
 * file held): addresses in and out, the calls' flags, and read/write/readv/writev
 * as the sends and receives they are. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <hermit/fd.h>
#include <hermit/kernel.h>
#include <hermit/net.h>
#include <hermit/poll.h>

#include "sock.h"

/* A guest sockaddr_in: 0, or the errno Linux gives. */
static long get_addr(uint64_t addr, uint64_t len, ip_addr_t *ip, u16_t *port, int *unspec)
{
	struct sockaddr_in sa;

	if (unspec)
		*unspec = 0;
	if ((int64_t)len < 0 || len > 128)
		return -EINVAL;
	if (len < sizeof(sa_family_t))
		return -EINVAL;
	if (!user_ok(addr, len))
		return -EFAULT;
	memset(&sa, 0, sizeof(sa));
	memcpy(&sa, (const void *)addr, len < sizeof(sa) ? len : sizeof(sa));
	if (sa.sin_family == AF_UNSPEC && unspec) {
		*unspec = 1;
		return 0;
	}
	if (len < sizeof(sa))
		return -EINVAL;
	if (sa.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	ip_addr_set_ip4_u32(ip, sa.sin_addr.s_addr);
	*port = lwip_ntohs(sa.sin_port);
	return 0;
}

static long put_addr(const ip_addr_t *ip, u16_t port, uint64_t addr, uint64_t lenp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = lwip_htons(port),
				  .sin_addr.s_addr = ip ? ip4_addr_get_u32(ip_2_ip4(ip)) : 0 };

	if (!addr)
		return 0;
	if (!user_ok(lenp, sizeof(socklen_t)))
		return -EFAULT;
	int len = *(volatile int *)lenp;
	if (len < 0)
		return -EINVAL;
	size_t n = (size_t)len < sizeof(sa) ? (size_t)len : sizeof(sa);
	if (!user_ok(addr, n))
		return -EFAULT;
	memcpy((void *)addr, &sa, n);
	*(socklen_t *)lenp = sizeof(sa);
	return 0;
}

static long do_bind(struct sock *s, const long a[6])
{
	ip_addr_t ip;
	u16_t port;
	long r = get_addr((uint64_t)a[1], (uint64_t)a[2], &ip, &port, 0);

	if (r)
		return r;
	if (!net_local_addr(ip_2_ip4(&ip)))
		return -EADDRNOTAVAIL;
	r = s->type == SOCK_STREAM ? tcp_sock_bind(s, &ip, port) : udp_sock_bind(s, &ip, port);
	return r;
}

static long do_accept(struct sock *s, struct file *f, const long a[6], int flags)
{
	struct sock *c;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (s->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	if (a[1] && !user_ok((uint64_t)a[2], sizeof(socklen_t)))
		return -EFAULT;
	long r = tcp_sock_accept(s, &c, f->flags & O_NONBLOCK);
	if (r)
		return r;
	long fd = sock_file(c, flags & SOCK_NONBLOCK ? O_NONBLOCK : 0, flags & SOCK_CLOEXEC);
	if (fd < 0)
		return fd; /* the connection is closed with the description */
	r = put_addr(&c->peer_ip, c->peer_port, (uint64_t)a[1], (uint64_t)a[2]);
	return r ? r : fd;
}

static long do_connect(struct sock *s, struct file *f, const long a[6])
{
	ip_addr_t ip = { 0 };
	u16_t port = 0;
	int unspec;
	long r = get_addr((uint64_t)a[1], (uint64_t)a[2], &ip, &port, &unspec);

	if (r)
		return r;
	if (s->type == SOCK_DGRAM)
		return udp_sock_connect(s, unspec ? 0 : &ip, port);
	if (unspec)
		return -EAFNOSUPPORT;
	if (ip_addr_isany(&ip))
		ip_addr_set_loopback(0, &ip); /* Linux: 0.0.0.0 is this host */
	return tcp_sock_connect(s, &ip, port, f->flags & O_NONBLOCK);
}

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_EOR | MSG_CONFIRM | MSG_DONTROUTE)
#define RECV_FLAGS (MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL | MSG_TRUNC | MSG_CMSG_CLOEXEC)

static long do_send(struct sock *s, struct file *f, const struct uio *u, int flags,
		    uint64_t addr, uint64_t alen)
{
	ip_addr_t ip;
	u16_t port = 0;
	long r = uio_check(u);

	if (r)
		return r;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	flags &= SEND_FLAGS;
	int nonblock = (f->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
	if (s->type == SOCK_STREAM)
		return tcp_sock_send(s, u, flags, nonblock);
	if (addr && (r = get_addr(addr, alen, &ip, &port, 0)))
		return r;
	return udp_sock_send(s, u, addr ? &ip : 0, port, flags);
}

/* *mflags gets MSG_TRUNC for a datagram longer than the buffers. */
static long do_recv(struct sock *s, struct file *f, const struct uio *u, int flags,
		    uint64_t addr, uint64_t alenp, int *mflags)
{
	long r = uio_check(u);

	if (r)
		return r;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	flags &= RECV_FLAGS;
	int nonblock = (f->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
	if (addr && !user_ok(alenp, sizeof(socklen_t)))
		return -EFAULT;
	if (s->type == SOCK_STREAM) {
		r = tcp_sock_recv(s, u, flags, nonblock);
		if (r >= 0 && addr)
			*(socklen_t *)alenp = 0; /* a stream's peer is not reported */
		return r;
	}
	ip_addr_t from;
	u16_t port;
	size_t full;
	r = udp_sock_recv(s, u, flags, nonblock, &from, &port, &full);
	if (r < 0)
		return r;
	if (mflags)
		*mflags = (size_t)r < full ? MSG_TRUNC : 0;
	long e = put_addr(&from, port, addr, alenp);
	if (e)
		return e;
	return flags & MSG_TRUNC ? (long)full : r;
}

static long do_msg(struct sock *s, struct file *f, const long a[6], int send)
{
	struct msghdr *m = (struct msghdr *)a[1];

	if (!user_ok((uint64_t)m, sizeof(*m)))
		return -EFAULT;
	struct msghdr h = *(volatile struct msghdr *)m;
	struct uio u = { .iov = h.msg_iov, .cnt = (long)h.msg_iovlen };
	if (h.msg_iovlen > 1024)
		return -EMSGSIZE;
	if (!h.msg_iovlen)
		u = (struct uio){ .cnt = 0, .one_base = 0, .one_len = 0 };
	if (send)
		return do_send(s, f, &u, (int)a[2], (uint64_t)h.msg_name, h.msg_namelen);
	int mflags = 0;
	long r = do_recv(s, f, &u, (int)a[2], (uint64_t)h.msg_name, (uint64_t)&m->msg_namelen, &mflags);
	if (r >= 0) {
		m->msg_controllen = 0;
		m->msg_flags = mflags;
	}
	return r;
}

static long do_shutdown(struct sock *s, int how)
{
	if (s->type == SOCK_STREAM)
		return tcp_sock_shutdown(s, how);
	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	if (s->state != SS_CONNECTED)
		return -ENOTCONN;
	if (how != SHUT_WR)
		s->shut_rd = 1;
	sock_notify(s);
	return 0;
}

static long do_name(struct sock *s, const long a[6], int peer)
{
	if (s->type == SOCK_STREAM && s->tcp && s->state != SS_CLOSED) {
		s->local_ip = s->tcp->local_ip;
		s->local_port = s->tcp->local_port;
	}
	if (peer) {
		if (s->state != SS_CONNECTED && !(s->state == SS_CLOSED && s->peer_port))
			return -ENOTCONN;
		return put_addr(&s->peer_ip, s->peer_port, (uint64_t)a[1], (uint64_t)a[2]);
	}
	if (!a[1])
		return -EFAULT;
	return put_addr(&s->local_ip, s->local_port, (uint64_t)a[1], (uint64_t)a[2]);
}

long net_sockcall(uint64_t nr, struct file *f, const long a[6])
{
	struct sock *s = f->obj;
	struct uio one = { .one_base = (uint64_t)a[1], .one_len = (uint64_t)a[2] };
	struct uio vec = { .iov = (const struct iovec *)a[1], .cnt = a[2] };
	long r;

	net_pump();
	switch (nr) {
	case SYS_read:
		return do_recv(s, f, &one, 0, 0, 0, 0);
	case SYS_readv:
		if (!vec.cnt)
			return 0;
		return do_recv(s, f, &vec, 0, 0, 0, 0);
	case SYS_write:
		return do_send(s, f, &one, 0, 0, 0);
	case SYS_writev:
		if (!vec.cnt)
			return 0;
		return do_send(s, f, &vec, 0, 0, 0);
	case SYS_bind:
		return do_bind(s, a);
	case SYS_listen:
		return s->type == SOCK_STREAM ? tcp_sock_listen(s, (int)a[1]) : -EOPNOTSUPP;
	case SYS_accept:
		return do_accept(s, f, a, 0);
	case SYS_accept4:
		return do_accept(s, f, a, (int)a[3]);
	case SYS_connect:
		return do_connect(s, f, a);
	case SYS_sendto:
		one.one_len = (uint64_t)a[2];
		return do_send(s, f, &one, (int)a[3], (uint64_t)a[4], (uint64_t)a[5]);
	case SYS_recvfrom:
		return do_recv(s, f, &one, (int)a[3], (uint64_t)a[4], (uint64_t)a[5], 0);
	case SYS_sendmsg:
		return do_msg(s, f, a, 1);
	case SYS_recvmsg:
		return do_msg(s, f, a, 0);
	case SYS_shutdown:
		r = do_shutdown(s, (int)a[1]);
		return r;
	case SYS_getsockname:
		return do_name(s, a, 0);
	case SYS_getpeername:
		return do_name(s, a, 1);
	case SYS_setsockopt:
		return sock_setsockopt(s, (int)a[1], (int)a[2], (uint64_t)a[3], (uint64_t)a[4]);
	case SYS_getsockopt:
		return sock_getsockopt(s, (int)a[1], (int)a[2], (uint64_t)a[3], (uint64_t)a[4]);
	default:
		return -EINVAL;
	}
}
