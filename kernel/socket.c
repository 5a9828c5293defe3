/* The socket system calls: an IPv4 socket's go to net/ (lwIP), an AF_UNIX
 * pair's are served here as the pipe reads and writes they are (kernel/pipe.c),
 * anything else is not a socket. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <hermit/fd.h>
#include <hermit/net.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

long sys_socket(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a0 == AF_UNIX)
		return -EAFNOSUPPORT; /* named AF_UNIX sockets: one process has no one to talk to */
	return net_socket((int)a0, (int)a1, (int)a2);
}

long sys_socketpair(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return unix_socketpair(a0, a1, a2, (int *)a3);
}

/* An AF_UNIX end's int option (SOL_SOCKET only). */
static long unix_getsockopt(const long a[6])
{
	int *val = (int *)a[3];
	socklen_t *len = (socklen_t *)a[4];
	int v;

	if (a[1] != SOL_SOCKET)
		return -EOPNOTSUPP;
	switch (a[2]) {
	case SO_TYPE: v = SOCK_STREAM; break;
	case SO_DOMAIN: v = AF_UNIX; break;
	case SO_ERROR: v = 0; break;
	case SO_RCVBUF:
	case SO_SNDBUF: v = 65536; break;
	case SO_ACCEPTCONN: v = 0; break;
	default: return -ENOPROTOOPT;
	}
	if (!user_ok((uint64_t)len, sizeof(*len)))
		return -EFAULT;
	socklen_t n = *(volatile socklen_t *)len;
	if ((int)n < 0)
		return -EINVAL;
	if (n > sizeof(v))
		n = sizeof(v);
	if (!user_ok((uint64_t)val, n))
		return -EFAULT;
	memcpy(val, &v, n);
	*len = n;
	return 0;
}

/* send/recv on an AF_UNIX end: the pipe's write/read, with MSG_DONTWAIT and
 * MSG_NOSIGNAL; no addresses (the peer is unnamed), no ancillary data. */
static long unix_io(uint64_t nr, struct file *f, const long a[6])
{
	int flags = (int)a[nr == SYS_sendmsg || nr == SYS_recvmsg ? 2 : 3];
	int nb = f->flags & O_NONBLOCK, send = nr == SYS_sendto || nr == SYS_sendmsg;
	long b[6] = { a[0], a[1], a[2] };
	struct msghdr *m = (struct msghdr *)a[1];

	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_WAITALL | MSG_CMSG_CLOEXEC))
		return -EOPNOTSUPP;
	if (nr == SYS_sendto && a[4])
		return -EISCONN;
	if (nr == SYS_recvfrom && a[4]) {
		if (!user_ok((uint64_t)a[5], sizeof(socklen_t)))
			return -EFAULT;
		*(socklen_t *)a[5] = 0;
	}
	if (nr == SYS_sendmsg || nr == SYS_recvmsg) {
		if (!user_ok((uint64_t)m, sizeof(*m)))
			return -EFAULT;
		if (send && m->msg_name)
			return -EISCONN;
		b[1] = (long)m->msg_iov;
		b[2] = (long)m->msg_iovlen;
	}
	if (flags & MSG_DONTWAIT)
		f->flags |= O_NONBLOCK;
	current->nosigpipe = !!(flags & MSG_NOSIGNAL);
	long r;
	if (nr == SYS_sendmsg || nr == SYS_recvmsg)
		r = file_serve(send ? SYS_writev : SYS_readv, b, f);
	else
		r = file_serve(send ? SYS_write : SYS_read, b, f);
	current->nosigpipe = 0;
	if ((flags & MSG_DONTWAIT) && !nb)
		f->flags &= ~O_NONBLOCK;
	if (r >= 0 && nr == SYS_recvmsg) {
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	return r;
}

static long unix_call(uint64_t nr, struct file *f, const long a[6])
{
	switch (nr) {
	case SYS_sendto:
	case SYS_recvfrom:
	case SYS_sendmsg:
	case SYS_recvmsg:
		return unix_io(nr, f, a);
	case SYS_shutdown:
		return unix_shutdown(f, (int)a[1]);
	case SYS_getsockopt:
		return unix_getsockopt(a);
	case SYS_setsockopt:
		return 0; /* buffer sizes and the like: a pipe has what it has */
	case SYS_getsockname:
	case SYS_getpeername:
		if (!user_ok((uint64_t)a[2], sizeof(socklen_t)))
			return -EFAULT;
		if (*(volatile socklen_t *)a[2] >= sizeof(sa_family_t)) {
			if (!user_ok((uint64_t)a[1], sizeof(sa_family_t)))
				return -EFAULT;
			*(sa_family_t *)a[1] = AF_UNIX;
		}
		*(socklen_t *)a[2] = sizeof(sa_family_t);
		return 0;
	case SYS_listen:
	case SYS_accept:
	case SYS_accept4:
		return -EINVAL;
	default: /* bind, connect */
		return -EISCONN;
	}
}

static long sockcall(uint64_t nr, const long a[6])
{
	struct file *f = fd_file((int)a[0]);
	long r;

	if (!f)
		return -EBADF;
	if (f->kind != FILE_SOCKET && f->kind != FILE_UNIX)
		return -ENOTSOCK;
	file_get(f); /* a close by another thread waits for this call */
	r = f->kind == FILE_UNIX ? unix_call(nr, f, a) : net_sockcall(nr, f, a);
	file_put(f);
	return r;
}

#define SOCKCALL(name)                                        \
	long sys_##name(SYSCALL_PARAMS)                       \
	{                                                     \
		const long a[6] = { a0, a1, a2, a3, a4, a5 }; \
		return sockcall(SYS_##name, a);               \
	}
SOCKCALL(bind)
SOCKCALL(listen)
SOCKCALL(accept)
SOCKCALL(accept4)
SOCKCALL(connect)
SOCKCALL(sendto)
SOCKCALL(recvfrom)
SOCKCALL(sendmsg)
SOCKCALL(recvmsg)
SOCKCALL(shutdown)
SOCKCALL(getsockname)
SOCKCALL(getpeername)
SOCKCALL(setsockopt)
SOCKCALL(getsockopt)
