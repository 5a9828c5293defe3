/* Standard streams: fd 0 reads the loader's stdin, fds 1 and 2 write its stdout and stderr.
 * Host files arrive with the file service (open returns ENOENT until then). */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>

static unsigned closed; /* bit n: the application closed standard fd n */

static int std_fd(long fd)
{
	return fd >= 0 && fd <= 2 && !(closed & (1u << fd));
}

static long host_io(unsigned hc, long fd, uint64_t buf, uint64_t len)
{
	struct hc_write io = { .fd = (uint64_t)fd, .buf = buf, .len = len };

	if (!len)
		return 0;
	arch_hypercall(hc, &io); /* hc_read has the same layout */
	return (long)io.ret;
}

long sys_write(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (!std_fd(a0) || a0 == 0)
		return -EBADF;
	return host_io(HC_WRITE, a0, (uint64_t)a1, (uint64_t)a2);
}

long sys_read(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (!std_fd(a0) || a0 != 0)
		return -EBADF;
	return host_io(HC_READ, a0, (uint64_t)a1, (uint64_t)a2);
}

static long vector_io(syscall_fn io, long fd, const struct iovec *iov, long cnt)
{
	long total = 0;

	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	for (long i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		long r = io(fd, (long)iov[i].iov_base, (long)iov[i].iov_len, 0, 0, 0);
		if (r < 0)
			return total ? total : r;
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return total;
}

long sys_writev(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vector_io(sys_write, a0, (const struct iovec *)a1, a2);
}

long sys_readv(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return vector_io(sys_read, a0, (const struct iovec *)a1, a2);
}

long sys_close(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (!std_fd(a0))
		return -EBADF;
	closed |= 1u << a0;
	return 0;
}

static int is_tty(long fd)
{
	return (boot_info->tty >> fd) & 1;
}

long sys_fstat(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct stat *st = (struct stat *)a1;
	if (!std_fd(a0))
		return -EBADF;
	memset(st, 0, sizeof(*st));
	st->st_mode = (is_tty(a0) ? S_IFCHR : S_IFIFO) | 0620;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	return 0;
}

long sys_lseek(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return std_fd(a0) ? -ESPIPE : -EBADF;
}

long sys_ioctl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (!std_fd(a0))
		return -EBADF;
	if (!is_tty(a0))
		return -ENOTTY;
	if ((unsigned long)a1 == TIOCGWINSZ) {
		struct winsize *ws = (struct winsize *)a2;
		*ws = (struct winsize){ .ws_row = 24, .ws_col = 80 };
		return 0;
	}
	if ((unsigned long)a1 == TCGETS) {
		memset((void *)a2, 0, sizeof(struct termios)); /* a plain, cooked terminal */
		((struct termios *)a2)->c_lflag = ICANON | ECHO;
		return 0;
	}
	return -EINVAL;
}

long sys_fcntl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (!std_fd(a0))
		return -EBADF;
	switch (a1) {
	case F_GETFL:
		return a0 == 0 ? O_RDONLY : O_WRONLY;
	case F_GETFD:
	case F_SETFD:
	case F_SETFL:
		return 0;
	default:
		return -EINVAL;
	}
}

long sys_open(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return -ENOENT;
}

long sys_openat(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return -ENOENT;
}

long sys_getcwd(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if ((unsigned long)a1 < 2)
		return -ERANGE;
	char *buf = (char *)a0;
	buf[0] = '/';
	buf[1] = 0;
	return 2;
}
