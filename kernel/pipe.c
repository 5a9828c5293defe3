/* Pipes and AF_UNIX stream socket pairs, served in the kernel: a pipe is a
 * 64 KiB ring (Linux's default capacity) in pages of its own; a socket pair is
 * two pipes, each end reading one and writing the other.  Readers and writers
 * wait in poll_block (include/hermit/poll.h), so poll, select and epoll see the
 * same readiness the blocking calls wait for. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <hermit/fd.h>
#include <hermit/poll.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define PIPE_PAGES 17 /* the header, then 64 KiB of data */
#define PIPE_CAP (16 * PAGE_SIZE)
#define PIPE_BUF 4096 /* writes up to this size are atomic (<limits.h> would redefine PAGE_SIZE) */

struct pipe {
	uint64_t head, tail;     /* bytes written and read so far */
	int readers, writers;    /* descriptions of each end still open */
	struct file *rfile, *wfile; /* one description per end, for their notifies */
	uint64_t ino;
	uint8_t *data;
};

static uint64_t next_ino = 1;

static struct pipe *pipe_new(void)
{
	uint64_t pages = page_alloc(PIPE_PAGES, 0);
	if (!pages)
		return 0;
	struct pipe *p = (struct pipe *)pages;
	*p = (struct pipe){ .readers = 1, .writers = 1, .ino = next_ino++,
			    .data = (uint8_t *)(pages + PAGE_SIZE) };
	return p;
}

static void pipe_changed(struct pipe *p)
{
	poll_notify(p->rfile);
	if (p->wfile && p->wfile != p->rfile)
		poll_notify(p->wfile);
}

/* The end a description reads and the one it writes (a pipe's ends do one each). */
static struct pipe *rd_end(struct file *f)
{
	return f->kind == FILE_PIPE ? ((f->flags & O_ACCMODE) == O_RDONLY ? f->obj : 0) : f->obj;
}

static struct pipe *wr_end(struct file *f)
{
	return f->kind == FILE_PIPE ? ((f->flags & O_ACCMODE) == O_WRONLY ? f->obj : 0) : f->obj2;
}

static long pipe_read(struct file *f, void *buf, size_t n, int64_t off)
{
	struct pipe *p = rd_end(f);

	if (off >= 0)
		return -ESPIPE;
	if (!n || !p)
		return 0; /* !p: an AF_UNIX end shut for reading */
	while (p->head == p->tail) {
		if (!p->writers)
			return 0;
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		if (poll_block(NO_DEADLINE) == -EINTR)
			return -EINTR;
	}
	size_t got = 0;
	while (got < n && p->tail != p->head) {
		size_t at = p->tail % PIPE_CAP, run = PIPE_CAP - at;
		size_t k = p->head - p->tail;
		if (k > run)
			k = run;
		if (k > n - got)
			k = n - got;
		memcpy((uint8_t *)buf + got, p->data + at, k);
		p->tail += k;
		got += k;
	}
	poll_notify(p->wfile); /* room for the writer; the read end's edge stays put */
	return (long)got;
}

static long broken(void)
{
	if (!current->nosigpipe) /* send(MSG_NOSIGNAL) */
		sys_tkill((long)current->tid, SIGPIPE, 0, 0, 0, 0);
	return -EPIPE;
}

static long pipe_write(struct file *f, const void *buf, size_t n, int64_t off)
{
	struct pipe *p = wr_end(f);
	size_t done = 0;

	if (off >= 0)
		return -ESPIPE;
	if (!p)
		return broken(); /* an AF_UNIX end shut for writing */
	while (done < n) {
		if (!p->readers)
			return done ? (long)done : broken();
		size_t room = PIPE_CAP - (p->head - p->tail);
		/* up to PIPE_BUF bytes go in at once or not at all (POSIX) */
		if (!room || (n <= PIPE_BUF && room < n)) {
			if (f->flags & O_NONBLOCK)
				return done ? (long)done : -EAGAIN;
			if (poll_block(NO_DEADLINE) == -EINTR)
				return done ? (long)done : -EINTR;
			continue;
		}
		while (room && done < n) {
			size_t at = p->head % PIPE_CAP, k = PIPE_CAP - at;
			if (k > room)
				k = room;
			if (k > n - done)
				k = n - done;
			memcpy(p->data + at, (const uint8_t *)buf + done, k);
			p->head += k;
			done += k;
			room -= k;
		}
		poll_notify(p->rfile);
	}
	return (long)done;
}

static unsigned pipe_poll(struct file *f)
{
	struct pipe *r = rd_end(f), *w = wr_end(f);
	unsigned ev = 0;

	if (r) {
		if (r->head != r->tail)
			ev |= POLLIN | POLLRDNORM;
		if (!r->writers)
			ev |= POLLHUP | (f->kind == FILE_UNIX ? POLLRDHUP : 0);
	}
	if (w) {
		if (!w->readers)
			ev |= POLLERR;
		else if (PIPE_CAP - (w->head - w->tail) >= PIPE_BUF)
			ev |= POLLOUT | POLLWRNORM;
	}
	return ev;
}

static long pipe_ioctl(struct file *f, unsigned long req, long arg)
{
	struct pipe *r = rd_end(f);

	switch (req) {
	case FIONREAD:
		if (!user_ok((uint64_t)arg, sizeof(int)))
			return -EFAULT;
		*(int *)arg = r ? (int)(r->head - r->tail) : 0;
		return 0;
	case FIONBIO:
		if (!user_ok((uint64_t)arg, sizeof(int)))
			return -EFAULT;
		f->flags = *(int *)arg ? f->flags | O_NONBLOCK : f->flags & ~O_NONBLOCK;
		return 0;
	default:
		return -ENOTTY;
	}
}

static void pipe_fstat(struct file *f, struct stat *st)
{
	struct pipe *p = rd_end(f) ? rd_end(f) : wr_end(f);

	memset(st, 0, sizeof(*st));
	st->st_mode = (f->kind == FILE_PIPE ? S_IFIFO : S_IFSOCK) | 0600;
	st->st_ino = p->ino;
	st->st_nlink = 1;
	st->st_blksize = PAGE_SIZE;
}

static void end_gone(struct pipe *p, int reader, struct file *f)
{
	if (reader)
		p->readers--;
	else
		p->writers--;
	if (p->rfile == f)
		p->rfile = 0;
	if (p->wfile == f)
		p->wfile = 0;
	if (!p->readers && !p->writers) {
		page_free((uint64_t)p, PIPE_PAGES);
		return;
	}
	pipe_changed(p);
}

static long pipe_release(struct file *f)
{
	struct pipe *r = rd_end(f), *w = wr_end(f);

	if (r)
		end_gone(r, 1, f);
	if (w)
		end_gone(w, 0, f);
	return 0;
}

/* shutdown(2) of an AF_UNIX end: the peer sees EOF (SHUT_WR), reads here end (SHUT_RD). */
long unix_shutdown(struct file *f, int how)
{
	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	if (how != SHUT_WR && f->obj) {
		end_gone(f->obj, 1, f);
		f->obj = 0;
	}
	if (how != SHUT_RD && f->obj2) {
		end_gone(f->obj2, 0, f);
		f->obj2 = 0;
	}
	return 0;
}

static const struct file_ops pipe_ops = {
	.read = pipe_read,
	.write = pipe_write,
	.fstat = pipe_fstat,
	.ioctl = pipe_ioctl,
	.release = pipe_release,
	.poll = pipe_poll,
};

/* Two descriptions into two fds, or nothing (the error). */
static long install_two(struct file *a, struct file *b, int cloexec, int *out)
{
	long fa = fd_install(a, cloexec);
	if (fa < 0) {
		file_put(a);
		file_put(b);
		return fa;
	}
	long fb = fd_install(b, cloexec);
	if (fb < 0) {
		sys_close(fa, 0, 0, 0, 0, 0);
		file_put(b);
		return fb;
	}
	out[0] = (int)fa;
	out[1] = (int)fb;
	return 0;
}

long sys_pipe2(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int *out = (int *)a0, flags = (int)a1, fds[2];

	if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
		return -EINVAL;
	if (!user_ok((uint64_t)out, 2 * sizeof(int)))
		return -EFAULT;
	struct pipe *p = pipe_new();
	if (!p)
		return -ENFILE;
	struct file *r = file_alloc(FILE_PIPE, &pipe_ops, O_RDONLY | (flags & O_NONBLOCK));
	struct file *w = r ? file_alloc(FILE_PIPE, &pipe_ops, O_WRONLY | (flags & O_NONBLOCK)) : 0;
	if (!w) {
		if (r)
			file_put(r); /* no pipe yet: its release does nothing */
		page_free((uint64_t)p, PIPE_PAGES);
		return -ENFILE;
	}
	r->obj = w->obj = p;
	p->rfile = r;
	p->wfile = w;
	long e = install_two(r, w, flags & O_CLOEXEC, fds);
	if (e)
		return e;
	out[0] = fds[0];
	out[1] = fds[1];
	return 0;
}

long sys_pipe(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return sys_pipe2(a0, 0, 0, 0, 0, 0);
}

/* socketpair(AF_UNIX, SOCK_STREAM): the only AF_UNIX sockets there are (one
 * process); kernel/socket.c calls it. */
long unix_socketpair(long domain, long stype, long proto, int *out)
{
	int type = (int)stype & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), fds[2];

	if (domain != AF_UNIX)
		return domain == AF_INET || domain == AF_INET6 ? -EOPNOTSUPP : -EAFNOSUPPORT;
	if (type < SOCK_STREAM || type > SOCK_SEQPACKET)
		return -EINVAL;
	if (type != SOCK_STREAM)
		return -EOPNOTSUPP; /* datagram pairs: not yet */
	if (proto && proto != PF_UNIX)
		return -EPROTONOSUPPORT;
	if (!user_ok((uint64_t)out, 2 * sizeof(int)))
		return -EFAULT;
	struct pipe *ab = pipe_new(), *ba = ab ? pipe_new() : 0;
	int nb = (int)stype & SOCK_NONBLOCK ? O_NONBLOCK : 0;
	struct file *a = ba ? file_alloc(FILE_UNIX, &pipe_ops, O_RDWR | nb) : 0;
	struct file *b = a ? file_alloc(FILE_UNIX, &pipe_ops, O_RDWR | nb) : 0;
	if (!b) {
		if (a)
			file_put(a);
		if (ab)
			page_free((uint64_t)ab, PIPE_PAGES);
		if (ba)
			page_free((uint64_t)ba, PIPE_PAGES);
		return ab && ba ? -ENFILE : -ENOMEM;
	}
	a->obj = ba; a->obj2 = ab; /* a reads what b writes */
	b->obj = ab; b->obj2 = ba;
	ab->rfile = b; ab->wfile = a;
	ba->rfile = a; ba->wfile = b;
	long e = install_two(a, b, (int)stype & SOCK_CLOEXEC ? 1 : 0, fds);
	if (e)
		return e;
	out[0] = fds[0];
	out[1] = fds[1];
	return 0;
}
