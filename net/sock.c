/* A socket as a file: its description (FILE_SOCKET) points at a struct sock,
 * allocated from lwIP's heap; poll, ioctl, fstat and the last close are here,
 * reads and writes go through net/sys_socket.c like send and recv. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/uio.h>

#include <hermit/fd.h>
#include <hermit/kernel.h>
#include <hermit/net.h>
#include <hermit/poll.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#include "lwip/mem.h"

#include "sock.h"

#define DEFAULT_BUF 212992 /* SO_RCVBUF/SO_SNDBUF as Linux reports them by default */

struct sock *sock_new(int type)
{
	struct sock *s = mem_malloc(sizeof(*s));

	if (!s)
		return 0;
	memset(s, 0, sizeof(*s));
	s->type = type;
	s->dq_tail = &s->dq;
	s->acq_tail = &s->acq;
	s->rcvbuf = s->sndbuf = DEFAULT_BUF;
	return s;
}

void sock_free(struct sock *s)
{
	mem_free(s);
}

void sock_notify(struct sock *s)
{
	if (s->file)
		poll_notify(s->file);
	else
		poll_notify(0); /* an unaccepted connection: nobody polls it, but wake anyway */
}

long sock_wait(int nonblock, uint64_t deadline)
{
	if (nonblock)
		return -EAGAIN;
	int r = poll_block(deadline);
	if (r == -EINTR)
		return -EINTR;
	if (r == -ETIMEDOUT || time_monotonic_ns() >= deadline)
		return -EAGAIN; /* SO_RCVTIMEO/SO_SNDTIMEO ran out */
	return 0;
}

uint64_t sock_deadline(uint64_t timeo)
{
	return timeo ? time_monotonic_ns() + timeo : NO_DEADLINE;
}

long sock_broken(int flags)
{
	if (!(flags & MSG_NOSIGNAL))
		sys_tkill((long)current->tid, SIGPIPE, 0, 0, 0, 0);
	return -EPIPE;
}

long err_to_errno(err_t e)
{
	switch (e) {
	case ERR_OK: return 0;
	case ERR_MEM: return -ENOMEM;
	case ERR_BUF: return -ENOBUFS;
	case ERR_TIMEOUT: return -ETIMEDOUT;
	case ERR_RTE: return -ENETUNREACH;
	case ERR_INPROGRESS: return -EINPROGRESS;
	case ERR_WOULDBLOCK: return -EAGAIN;
	case ERR_USE: return -EADDRINUSE;
	case ERR_ALREADY: return -EALREADY;
	case ERR_ISCONN: return -EISCONN;
	case ERR_CONN: return -ENOTCONN;
	case ERR_IF: return -ENETDOWN;
	case ERR_ABRT: return -ECONNABORTED;
	case ERR_RST: return -ECONNRESET;
	case ERR_CLSD: return -ENOTCONN;
	default: return -EINVAL;
	}
}

/* ---- the guest's buffers ---- */

static struct iovec uio_at(const struct uio *u, long i)
{
	if (!u->cnt)
		return (struct iovec){ (void *)u->one_base, u->one_len };
	const volatile struct iovec *v = u->iov + i;
	return (struct iovec){ v->iov_base, v->iov_len };
}

long uio_check(const struct uio *u)
{
	if (u->cnt < 0 || u->cnt > 1024)
		return -EINVAL;
	if (u->cnt && !user_ok((uint64_t)u->iov, (uint64_t)u->cnt * sizeof(struct iovec)))
		return -EFAULT;
	size_t total = 0;
	for (long i = 0; i < (u->cnt ? u->cnt : 1); i++) {
		struct iovec v = uio_at(u, i);
		if ((long)v.iov_len < 0 || total + v.iov_len > 0x7ffff000)
			return -EINVAL;
		if (!user_ok((uint64_t)v.iov_base, v.iov_len))
			return -EFAULT;
		total += v.iov_len;
	}
	return 0;
}

size_t uio_len(const struct uio *u)
{
	size_t total = 0;
	for (long i = 0; i < (u->cnt ? u->cnt : 1); i++) {
		size_t n = uio_at(u, i).iov_len;
		total += n < 0x7ffff000 ? n : 0;
	}
	return total < 0x7ffff000 ? total : 0x7ffff000;
}

/* Walk the buffers from byte `at`, n bytes, each piece checked again (another
 * thread may change the iovecs meanwhile): 0, or -EFAULT. */
static int uio_copy(const struct uio *u, size_t at, void *kbuf, size_t n, int to_user)
{
	for (long i = 0; i < (u->cnt ? u->cnt : 1) && n; i++) {
		struct iovec v = uio_at(u, i);
		if (at >= v.iov_len) {
			at -= v.iov_len;
			continue;
		}
		size_t k = v.iov_len - at < n ? v.iov_len - at : n;
		uint64_t addr = (uint64_t)v.iov_base + at;
		if (!user_ok(addr, k))
			return -EFAULT;
		if (to_user)
			memcpy((void *)addr, kbuf, k);
		else
			memcpy(kbuf, (const void *)addr, k);
		kbuf = (uint8_t *)kbuf + k;
		n -= k;
		at = 0;
	}
	return 0;
}

void *uio_span(const struct uio *u, size_t at, size_t max, size_t *len)
{
	for (long i = 0; i < (u->cnt ? u->cnt : 1); i++) {
		struct iovec v = uio_at(u, i);
		if (at >= v.iov_len) {
			at -= v.iov_len;
			continue;
		}
		size_t k = v.iov_len - at < max ? v.iov_len - at : max;
		uint64_t addr = (uint64_t)v.iov_base + at;
		*len = k;
		return user_ok(addr, k) ? (void *)addr : 0;
	}
	*len = 0;
	return 0;
}

int uio_get(const struct uio *u, size_t at, void *dst, size_t n)
{
	return uio_copy(u, at, dst, n, 0);
}

int uio_put(const struct uio *u, size_t at, const void *src, size_t n)
{
	return uio_copy(u, at, (void *)src, n, 1);
}

/* ---- the description ---- */

static unsigned sock_poll(struct file *f)
{
	struct sock *s = f->obj;
	return s->type == SOCK_STREAM ? tcp_sock_poll(s) : udp_sock_poll(s);
}

static long sock_ioctl(struct file *f, unsigned long req, long arg)
{
	struct sock *s = f->obj;

	if (!user_ok((uint64_t)arg, sizeof(int)))
		return -EFAULT;
	switch (req) {
	case FIONBIO:
		f->flags = *(int *)arg ? f->flags | O_NONBLOCK : f->flags & ~O_NONBLOCK;
		return 0;
	case FIONREAD:
		net_pump();
		*(int *)arg = (int)(s->type == SOCK_STREAM ? s->rx_len : s->dq ? s->dq->p->tot_len : 0);
		return 0;
	default:
		return -ENOTTY;
	}
}

static void sock_fstat(struct file *f, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFSOCK | 0777;
	st->st_ino = (uint64_t)f->obj >> 4;
	st->st_nlink = 1;
	st->st_blksize = PAGE_SIZE;
}

static long sock_release(struct file *f)
{
	struct sock *s = f->obj;

	if (s->type == SOCK_STREAM)
		tcp_sock_close(s);
	else
		udp_sock_close(s);
	sock_free(s);
	net_pump(); /* the FIN or RST on its way */
	return 0;
}

static const struct file_ops sock_ops = {
	.fstat = sock_fstat,
	.ioctl = sock_ioctl,
	.release = sock_release,
	.poll = sock_poll,
};

/* s belongs to the new fd, or is closed and freed when there is none. */
long sock_file(struct sock *s, int flags, int cloexec)
{
	struct file *f = file_alloc(FILE_SOCKET, &sock_ops, O_RDWR | (flags & O_NONBLOCK));
	if (!f) {
		if (s->type == SOCK_STREAM)
			tcp_sock_close(s);
		else
			udp_sock_close(s);
		sock_free(s);
		return -ENFILE;
	}
	f->obj = s;
	s->file = f;
	long fd = fd_install(f, cloexec);
	if (fd < 0)
		file_put(f); /* closes the socket */
	return fd;
}

/* The network member's anchor (tools/mklibhermit.sh): the application's socket()
 * (sdk/socket.c) refers to it, so the link takes this member, and the stack with
 * it, into an image that calls socket(); -Wl,-u,__hermit_net into any other. */
__attribute__((visibility("default"))) const char __hermit_net = 1;

long net_socket(int domain, int type, int proto)
{
	int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (domain != AF_INET)
		return -EAFNOSUPPORT; /* IPv6 later; AF_UNIX: socketpair only */
	if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf))
		return -EINVAL;
	if (kind == SOCK_STREAM ? proto && proto != IPPROTO_TCP :
	    kind == SOCK_DGRAM ? proto && proto != IPPROTO_UDP : 1)
		return kind == SOCK_STREAM || kind == SOCK_DGRAM ? -EPROTONOSUPPORT :
		       kind == SOCK_RAW ? -EPROTONOSUPPORT : -EINVAL;
	if (net_start())
		return -ENOMEM;
	struct sock *s = sock_new(kind);
	if (!s)
		return -ENOMEM;
	long r = kind == SOCK_STREAM ? tcp_sock_init(s) : udp_sock_init(s);
	if (r) {
		sock_free(s);
		return r;
	}
	return sock_file(s, type & SOCK_NONBLOCK ? O_NONBLOCK : 0, type & SOCK_CLOEXEC);
}
