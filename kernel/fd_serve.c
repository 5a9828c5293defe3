/* Forwarded calls on a description the kernel serves itself (a device today;
 * sockets, pipes and /tmp files later): each becomes a call of the kind's
 * file_ops, or the errno Linux gives for an object that cannot do it.  Guest
 * buffers are checked here, once, before any op touches them. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/net.h>
#include <hermit/syscalls.h>

#define RW_MAX 0x7ffff000L /* the most one read or write moves (Linux's MAX_RW_COUNT) */
#define IOVS_MAX 1024
/* what F_SETFL may change */
#define SETFL_MASK (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

/* [addr, addr + len) is guest RAM the kernel can touch without a fault: no
 * NULL page, no guard or PROT_NONE page. */
int user_ok(uint64_t addr, uint64_t len)
{
	if (!len)
		return 1;
	if (addr < PAGE_SIZE || !ram_contains(addr, len))
		return 0;
	for (uint64_t p = ALIGN_DOWN(addr, PAGE_SIZE); p < addr + len; p += PAGE_SIZE)
		if (!arch_is_mapped(p))
			return 0;
	return 1;
}

static long rw_check(struct file *f, int write)
{
	int acc = f->flags & O_ACCMODE;

	if (write ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	if (!(write ? (void *)f->ops->write : (void *)f->ops->read))
		return -EINVAL;
	return 0;
}

static long rw(struct file *f, int write, uint64_t buf, uint64_t n, int64_t off)
{
	long r = rw_check(f, write);

	if (r)
		return r;
	if (n > RW_MAX)
		n = RW_MAX;
	if (!user_ok(buf, n))
		return -EFAULT;
	return write ? f->ops->write(f, (const void *)buf, n, off) : f->ops->read(f, (void *)buf, n, off);
}

/* One iovec as the application has it now (other threads run meanwhile: each
 * entry is read once per pass and checked on the pass that uses it). */
static struct iovec iov_at(uint64_t iov, long i)
{
	const volatile struct iovec *v = (const volatile struct iovec *)iov + i;
	return (struct iovec){ .iov_base = v->iov_base, .iov_len = v->iov_len };
}

static long rwv(struct file *f, int write, uint64_t iov, long cnt, int64_t off)
{
	long r = rw_check(f, write), total = 0;

	if (r)
		return r;
	if ((int)cnt < 0 || (int)cnt > IOVS_MAX)
		return -EINVAL;
	cnt = (int)cnt;
	if (!user_ok(iov, (uint64_t)cnt * sizeof(struct iovec)))
		return -EFAULT;
	for (long i = 0; i < cnt; i++) { /* as Linux: a bad iovec fails before any I/O */
		struct iovec v = iov_at(iov, i);
		if ((long)v.iov_len < 0)
			return -EINVAL;
		if (!user_ok((uint64_t)v.iov_base, v.iov_len))
			return -EFAULT;
	}
	for (long i = 0; i < cnt && total < RW_MAX; i++) {
		struct iovec v = iov_at(iov, i);
		uint64_t n = v.iov_len < (uint64_t)(RW_MAX - total) ? v.iov_len : (uint64_t)(RW_MAX - total);
		if (!user_ok((uint64_t)v.iov_base, n))
			return total ? total : -EFAULT;
		/* a pipe's or eventfd's readv returns what it has once it has some */
		int once = total && !write && f->kind != FILE_HOST && !(f->flags & O_NONBLOCK);
		if (once)
			f->flags |= O_NONBLOCK;
		r = write ? f->ops->write(f, v.iov_base, n, off) : f->ops->read(f, v.iov_base, n, off);
		if (once)
			f->flags &= ~O_NONBLOCK;
		if (r < 0)
			return total ? total : r;
		total += r;
		if (off >= 0)
			off += r;
		if ((uint64_t)r < n)
			break;
	}
	return total;
}

static long do_fstat(struct file *f, uint64_t st)
{
	if (!f->ops->fstat)
		return -EINVAL;
	if (!user_ok(st, sizeof(struct stat)))
		return -EFAULT;
	f->ops->fstat(f, (struct stat *)st);
	return 0;
}

/* The figures the loader gives for its synthetic objects (spec.py's SYNTH_FS_*). */
static long do_fstatfs(uint64_t buf)
{
	if (!user_ok(buf, sizeof(struct statfs)))
		return -EFAULT;
	struct statfs *s = (struct statfs *)buf;
	memset(s, 0, sizeof(*s));
	s->f_type = HERMIT_SYNTH_FS_MAGIC;
	s->f_bsize = s->f_frsize = 4096;
	s->f_namelen = 255;
	s->f_flags = HERMIT_SYNTH_FS_FLAGS;
	return 0;
}

static long do_fcntl(struct file *f, int cmd, long arg)
{
	switch (cmd) {
	case F_GETFL:
		return f->flags;
	case F_SETFL:
		f->flags = (f->flags & ~SETFL_MASK) | ((int)arg & SETFL_MASK);
		return 0;
	default:
		return -EINVAL;
	}
}

long file_serve(uint64_t nr, const long a[6], struct file *f)
{
	if (f->kind == FILE_SOCKET && (nr == SYS_read || nr == SYS_write || nr == SYS_readv ||
				       nr == SYS_writev))
		return net_sockcall(nr, f, a); /* recv and send, iovecs and all (net/) */
	switch (nr) {
	case SYS_read:
		return rw(f, 0, (uint64_t)a[1], (uint64_t)a[2], -1);
	case SYS_write:
		return rw(f, 1, (uint64_t)a[1], (uint64_t)a[2], -1);
	case SYS_pread64:
	case SYS_pwrite64:
		if (a[3] < 0)
			return -EINVAL;
		return rw(f, nr == SYS_pwrite64, (uint64_t)a[1], (uint64_t)a[2], a[3]);
	case SYS_readv:
	case SYS_writev:
		return rwv(f, nr == SYS_writev, (uint64_t)a[1], a[2], -1);
	case SYS_preadv:
	case SYS_pwritev:
		if (a[3] < 0)
			return -EINVAL;
		return rwv(f, nr == SYS_pwritev, (uint64_t)a[1], a[2], a[3]);
	case SYS_lseek:
		if ((int)a[2] < SEEK_SET || (int)a[2] > 4) /* SEEK_HOLE */
			return -EINVAL;
		return f->ops->lseek ? f->ops->lseek(f, a[1], (int)a[2]) : -ESPIPE;
	case SYS_fstat:
		return do_fstat(f, (uint64_t)a[1]);
	case SYS_fstatfs:
		return do_fstatfs((uint64_t)a[1]);
	case SYS_newfstatat: /* fstat(): AT_EMPTY_PATH and "" */
		if (!((int)a[3] & AT_EMPTY_PATH))
			return -ENOTDIR;
		if (!user_ok((uint64_t)a[1], 1))
			return -EFAULT;
		if (*(const volatile char *)a[1])
			return -ENOTDIR;
		return do_fstat(f, (uint64_t)a[2]);
	case SYS_fcntl:
		return do_fcntl(f, (int)a[1], a[2]);
	case SYS_ioctl:
		return f->ops->ioctl ? f->ops->ioctl(f, (unsigned long)a[1], a[2]) : -ENOTTY;
	case SYS_fsync:
	case SYS_fdatasync:
	case SYS_ftruncate:
		return -EINVAL;
	case SYS_getdents64:
	case SYS_fchdir:
		return -ENOTDIR;
	case SYS_flock:
		return 0; /* nobody else can see it */
	case SYS_fchmod:
	case SYS_fchown:
		return -EROFS; /* a synthetic object: nothing of it reaches the host */
	case SYS_utimensat:
		return a[1] ? -ENOTDIR : -EROFS; /* a path names a file under the fd; none: futimens */
	default:
		return -ENOTDIR; /* the other calls with fds are *at calls: a device is no directory */
	}
}
