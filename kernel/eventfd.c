/* eventfd2: a 64-bit counter in the description itself (struct file.count). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <hermit/fd.h>
#include <hermit/poll.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define EFD_MAXVAL 0xfffffffffffffffeULL

static long efd_read(struct file *f, void *buf, size_t n, int64_t off)
{
	(void)off;
	if (n < 8)
		return -EINVAL;
	while (!f->count) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		if (poll_block(NO_DEADLINE) == -EINTR)
			return -EINTR;
	}
	uint64_t v = f->efd_flags & EFD_SEMAPHORE ? 1 : f->count;
	f->count -= v;
	memcpy(buf, &v, 8);
	poll_notify(f);
	return 8;
}

static long efd_write(struct file *f, const void *buf, size_t n, int64_t off)
{
	uint64_t v;

	(void)off;
	if (n < 8)
		return -EINVAL;
	memcpy(&v, buf, 8);
	if (v == UINT64_MAX)
		return -EINVAL;
	while (EFD_MAXVAL - f->count < v) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		if (poll_block(NO_DEADLINE) == -EINTR)
			return -EINTR;
	}
	f->count += v;
	poll_notify(f);
	return 8;
}

static unsigned efd_poll(struct file *f)
{
	unsigned ev = 0;

	if (f->count)
		ev |= POLLIN | POLLRDNORM;
	if (f->count < EFD_MAXVAL)
		ev |= POLLOUT | POLLWRNORM;
	return ev;
}

static void efd_fstat(struct file *f, struct stat *st)
{
	(void)f;
	memset(st, 0, sizeof(*st));
	st->st_mode = 0600; /* an anonymous inode, as on Linux */
	st->st_nlink = 1;
	st->st_blksize = PAGE_SIZE;
}

static long efd_ioctl(struct file *f, unsigned long req, long arg)
{
	if (req != FIONBIO)
		return -ENOTTY;
	if (!user_ok((uint64_t)arg, sizeof(int)))
		return -EFAULT;
	f->flags = *(int *)arg ? f->flags | O_NONBLOCK : f->flags & ~O_NONBLOCK;
	return 0;
}

static const struct file_ops efd_ops = {
	.read = efd_read,
	.write = efd_write,
	.fstat = efd_fstat,
	.ioctl = efd_ioctl,
	.poll = efd_poll,
};

long sys_eventfd2(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int flags = (int)a1;

	if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
		return -EINVAL;
	struct file *f = file_alloc(FILE_EVENTFD, &efd_ops, O_RDWR | (flags & EFD_NONBLOCK));
	if (!f)
		return -ENFILE;
	f->count = (uint32_t)a0;
	f->efd_flags = flags & EFD_SEMAPHORE;
	long fd = fd_install(f, flags & EFD_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

long sys_eventfd(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return sys_eventfd2(a0, 0, 0, 0, 0, 0);
}
