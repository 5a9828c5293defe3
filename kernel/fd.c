/* The fd table: lowest free fd first (POSIX), one cloexec bit per fd, open file
 * descriptions shared by dup'ed fds and counted, so that the server of one (the
 * loader's close(handle) for a host file) hears of its end only when the last fd
 * and the last call in flight on it are gone.  Everything here runs under the
 * kernel lock; only file_put may drop it, once the description is unreachable. */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <hermit/fd.h>
#include <hermit/poll.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

/* Each fd holds one description and each cpu's call in flight at most two more
 * (renameat's two dirfds), so the pool cannot run out before the table does. */
#define FILES_MAX (FD_MAX + 2 * HERMIT_HC_MAILBOX_SLOTS)

static struct file pool[FILES_MAX];
static struct file *free_files; /* descriptions given back */
static unsigned never_used;     /* pool[never_used..] were never handed out: a free
				 * list built at boot would touch all of the pool's
				 * pages, each a host fault (~110 us of boot on kvm_pvm) */
static struct file *fds[FD_MAX];
static uint8_t cloexec[FD_MAX];

struct file *file_alloc(enum file_kind kind, const struct file_ops *ops, int flags)
{
	struct file *f = free_files;

	if (f)
		free_files = f->next_free;
	else if (never_used < FILES_MAX)
		f = &pool[never_used++];
	else
		return 0;
	*f = (struct file){ .refs = 1, .kind = kind, .flags = flags, .ops = ops };
	return f;
}

void file_get(struct file *f)
{
	f->refs++;
}

long file_put(struct file *f)
{
	long r = 0;

	if (--f->refs)
		return 0;
	if (f->kind != FILE_HOST && f->kind != FILE_DEVICE)
		epoll_forget(f);
	if (f->ops->release)
		r = f->ops->release(f); /* may wait for the host: f is reachable by no one */
	f->next_free = free_files;
	free_files = f;
	return r;
}

struct file *fd_file(int fd)
{
	return fd >= 0 && fd < FD_MAX ? fds[fd] : 0;
}

/* RLIMIT_NOFILE: new fds stay below it (those above, opened before it was
 * lowered, stay open, as on Linux). */
static int fd_limit(void)
{
	uint64_t lim = rlimit_cur(RLIMIT_NOFILE);
	return lim < FD_MAX ? (int)lim : FD_MAX;
}

static int lowest_free(int from)
{
	int limit = fd_limit();

	for (int fd = from < 0 ? 0 : from; fd < limit; fd++)
		if (!fds[fd])
			return fd;
	return -EMFILE;
}

/* fd takes over the caller's reference to f. */
static void set_fd(int fd, struct file *f, int exec)
{
	fds[fd] = f;
	cloexec[fd] = (uint8_t)!!exec;
}

long fd_install(struct file *f, int exec)
{
	int fd = lowest_free(0);

	if (fd >= 0)
		set_fd(fd, f, exec);
	return fd;
}

/* Guest fds 0-2 are the loader's handles 0-2 (its stdin, stdout, stderr). */
void fd_init(void)
{
	static const int modes[3] = { O_RDONLY, O_WRONLY, O_WRONLY };
	for (int fd = 0; fd < 3; fd++) {
		struct file *f = file_alloc(FILE_HOST, &host_file_ops, modes[fd]);
		f->handle = fd;
		set_fd(fd, f, 0);
	}
}

long sys_close(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int fd = (int)a0;
	struct file *f = fd_file(fd);

	if (!f)
		return -EBADF;
	fds[fd] = 0;
	long r = file_put(f);
	return r == -EINTR ? 0 : r; /* the fd is gone either way (as Linux) */
}

#define CLOSE_RANGE_UNSHARE 2 /* the fd table is the process's one anyway */
#define CLOSE_RANGE_CLOEXEC 4

long sys_close_range(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	unsigned first = (unsigned)a0, last = (unsigned)a1, flags = (unsigned)a2;

	if ((flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) || first > last)
		return -EINVAL;
	for (unsigned fd = first; fd <= last && fd < FD_MAX; fd++) {
		struct file *f = fds[fd];
		if (!f)
			continue;
		if (flags & CLOSE_RANGE_CLOEXEC) {
			cloexec[fd] = 1;
		} else {
			fds[fd] = 0;
			file_put(f);
		}
	}
	return 0;
}

/* dup into the lowest free fd >= from, or into `to` (closing what it held). */
static long dup_into(int old, int to, int from, int exec)
{
	struct file *f = fd_file(old);

	if (!f)
		return -EBADF;
	if (to < 0) {
		to = lowest_free(from);
		if (to < 0)
			return to;
	}
	struct file *prev = fds[to];
	file_get(f);
	set_fd(to, f, exec);
	if (prev)
		file_put(prev); /* errors of the implicit close are lost, as on Linux */
	return to;
}

long sys_dup(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return dup_into((int)a0, -1, 0, 0);
}

long sys_dup3(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int old = (int)a0, to = (int)a1, flags = (int)a2;

	if (flags & ~O_CLOEXEC)
		return -EINVAL;
	if (old == to)
		return -EINVAL;
	if (!fd_file(old))
		return -EBADF;
	if (to < 0 || to >= fd_limit())
		return -EBADF;
	return dup_into(old, to, 0, flags & O_CLOEXEC);
}

long sys_dup2(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int old = (int)a0, to = (int)a1;

	if (old == to)
		return fd_file(old) ? to : -EBADF;
	return sys_dup3(a0, a1, 0, 0, 0, 0);
}

/* fcntl: the fd's own commands here; the description's (F_GETFL, F_SETFL,
 * locks, ...) go to whoever serves it. */
long sys_fcntl(SYSCALL_PARAMS)
{
	int fd = (int)a0, cmd = (int)a1;
	struct file *f = fd_file(fd);

	if (!f)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if ((int)a2 < 0 || (int)a2 >= fd_limit())
			return -EINVAL;
		return dup_into(fd, -1, (int)a2, cmd == F_DUPFD_CLOEXEC);
	case F_GETFD:
		return cloexec[fd] ? FD_CLOEXEC : 0;
	case F_SETFD:
		cloexec[fd] = (uint8_t)(a2 & FD_CLOEXEC);
		return 0;
	default: {
		long a[6] = { a0, a1, a2, a3, a4, a5 };
		return fd_forward(SYS_fcntl, a, 0);
	}
	}
}

/* open/openat: the loader opens (or names a kernel device); the new fd is ours. */
static long open_common(uint64_t nr, long a[6], int flags)
{
	uint64_t node = 0;
	struct file *f;

	if (lowest_free(0) < 0)
		return -EMFILE;
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		int m = nr == SYS_open ? 2 : 3;
		a[m] = umask_mode(a[m]);
	}
	long r = fd_forward(nr, a, &node);
	if (r < 0)
		return r;
	int keep = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT |
			    O_NOATIME | O_ASYNC | O_LARGEFILE); /* what F_GETFL shows */
	if (node) {
		const struct device *d = dev_by_node(node);
		if (!d)
			return -ENXIO;
		if (flags & O_DIRECTORY)
			return -ENOTDIR;
		f = file_alloc(FILE_DEVICE, &dev_file_ops, keep);
		if (!f)
			return -ENFILE;
		f->dev = d;
	} else {
		f = file_alloc(FILE_HOST, &host_file_ops, keep);
		if (!f) {
			long c[6] = { r };
			host_call(SYS_close, c, 0);
			return -ENFILE;
		}
		f->handle = r;
	}
	r = fd_install(f, flags & O_CLOEXEC);
	if (r < 0)
		file_put(f); /* another thread took the last fd while the loader opened */
	return r;
}

long sys_open(SYSCALL_PARAMS)
{
	long a[6] = { a0, a1, a2, a3, a4, a5 };
	return open_common(SYS_open, a, (int)a1);
}

long sys_openat(SYSCALL_PARAMS)
{
	long a[6] = { a0, a1, a2, a3, a4, a5 };
	return open_common(SYS_openat, a, (int)a2);
}
