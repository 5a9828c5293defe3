/* The kernel's fd table and devices, checked from the application:
 *   fdtable             dup/dup2/dup3/F_DUPFD/close_range/cloexec/close semantics,
 *                       EBADF and EMFILE, /dev/null /dev/zero /dev/full
 *                       /dev/(u)random, bad pointers; one line per check, then
 *                       "N checks, M failed"
 *   fdtable redirect F  dup2 a file onto stdout, print, restore stdout
 *   fdtable umask       umask 077, then create the file secret and the directory private
 * Runs in the current directory (file a.txt, removed at the end). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/check.h"

static int all(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void dups(void)
{
	char buf[32] = "";
	int fd = open("a.txt", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(fd >= 3);
	CHECK(write(fd, "hello", 5) == 5);
	CHECK(fcntl(fd, F_GETFD) == 0);

	/* a dup keeps the file open after the original closes; offsets are shared */
	int d = dup(fd);
	CHECK(d == fd + 1);
	CHECK(close(fd) == 0);
	FAILS_WITH(write(fd, "x", 1), EBADF);
	CHECK(write(d, " world", 6) == 6);
	int d2 = dup(d);
	CHECK(lseek(d, 0, SEEK_SET) == 0);
	CHECK(read(d2, buf, 5) == 5 && !memcmp(buf, "hello", 5));
	CHECK(lseek(d, 0, SEEK_CUR) == 5);
	CHECK(close(d2) == 0 && close(d) == 0);

	/* the host file closes with its last fd: a flock lives as long as that */
	fd = open("a.txt", O_RDONLY);
	CHECK(flock(fd, LOCK_EX) == 0);
	d = dup(fd);
	CHECK(close(fd) == 0);
	int other = open("a.txt", O_RDONLY);
	FAILS_WITH(flock(other, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	CHECK(close(d) == 0);
	CHECK(flock(other, LOCK_EX | LOCK_NB) == 0 && close(other) == 0);

	/* dup2, dup3, F_DUPFD and the cloexec bit, per fd */
	fd = open("a.txt", O_RDONLY | O_CLOEXEC);
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	d = dup(fd);
	CHECK(fcntl(d, F_GETFD) == 0);
	CHECK(dup2(fd, 40) == 40 && fcntl(40, F_GETFD) == 0);
	CHECK(dup2(fd, fd) == fd && fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK(dup3(fd, 41, O_CLOEXEC) == 41 && fcntl(41, F_GETFD) == FD_CLOEXEC);
	CHECK(dup2(d, 41) == 41 && fcntl(41, F_GETFD) == 0); /* replaces 41 */
	FAILS_WITH(dup3(fd, fd, 0), EINVAL);
	FAILS_WITH(syscall(SYS_dup3, fd, 42, 1), EINVAL); /* musl's dup3 ignores flags but O_CLOEXEC */
	FAILS_WITH(dup2(fd, -1), EBADF);
	FAILS_WITH(dup2(fd, 1024), EBADF);
	FAILS_WITH(dup2(77, 78), EBADF);
	FAILS_WITH(dup2(77, 77), EBADF);
	CHECK(fcntl(fd, F_DUPFD, 100) == 100 && fcntl(100, F_GETFD) == 0);
	CHECK(fcntl(fd, F_DUPFD, 100) == 101);
	CHECK(fcntl(fd, F_DUPFD_CLOEXEC, 50) == 50 && fcntl(50, F_GETFD) == FD_CLOEXEC);
	FAILS_WITH(fcntl(fd, F_DUPFD, 1024), EINVAL);
	FAILS_WITH(fcntl(fd, F_DUPFD, -1), EINVAL);
	CHECK(fcntl(d, F_SETFD, FD_CLOEXEC) == 0 && fcntl(d, F_GETFD) == FD_CLOEXEC);
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC && fcntl(d, F_SETFD, 0) == 0 && fcntl(d, F_GETFD) == 0);
	lseek(40, 0, SEEK_SET);
	CHECK(read(41, buf, 11) == 11 && !memcmp(buf, "hello world", 11));
	CHECK(lseek(fd, 0, SEEK_CUR) == 11);
	CHECK(syscall(SYS_close_range, 100, 101, 4) == 0 && fcntl(101, F_GETFD) == FD_CLOEXEC);
	CHECK(syscall(SYS_close_range, 101, ~0U, 0) == 0 && fcntl(101, F_GETFD) == -1 &&
	      fcntl(100, F_GETFD) == FD_CLOEXEC);
	FAILS_WITH(syscall(SYS_close_range, 5, 4, 0), EINVAL);
	CHECK(dup2(fd, 101) == 101);
	int extra[] = { d, 40, 41, 50, 100, 101, fd };
	int closed = 0;
	for (unsigned i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		closed += close(extra[i]) == 0;
	CHECK(closed == 7);
	FAILS_WITH(close(fd), EBADF);

	/* closing 0 and 2 and opening again gives the lowest fds */
	CHECK(close(0) == 0 && close(2) == 0);
	int a = open("a.txt", O_RDONLY), b = open("a.txt", O_RDONLY), c = open("a.txt", O_RDONLY);
	CHECK(a == 0 && b == 2 && c == 3);
	CHECK(read(0, buf, 5) == 5 && !memcmp(buf, "hello", 5));
	close(a);
	close(b);
	close(c);
}

static void bad_fds(void)
{
	char buf[8];
	struct stat st;

	FAILS_WITH(read(-1, buf, 1), EBADF);
	FAILS_WITH(read(1023, buf, 1), EBADF);
	FAILS_WITH(read(5000, buf, 1), EBADF);
	FAILS_WITH(write(-100, buf, 1), EBADF);
	FAILS_WITH(fstat(999, &st), EBADF);
	FAILS_WITH(close(-1), EBADF);
	FAILS_WITH(close(1024), EBADF);
	FAILS_WITH(fcntl(999, F_GETFD), EBADF);
	FAILS_WITH(fcntl(999, F_GETFL), EBADF);
	FAILS_WITH(dup(999), EBADF);
	FAILS_WITH(openat(999, "a.txt", O_RDONLY), EBADF);
	FAILS_WITH(fstatat(999, "a.txt", &st, 0), EBADF);
	FAILS_WITH(fsync(999), EBADF);
	int fd = openat(AT_FDCWD, "a.txt", O_RDONLY);
	CHECK(fd >= 0 && close(fd) == 0);

	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 1024);
	fd = open("a.txt", O_RDONLY);
	int last = -1;
	for (;;) {
		int d = dup(fd);
		if (d < 0)
			break;
		last = d;
	}
	CHECK(errno == EMFILE && last == 1023);
	FAILS_WITH(open("a.txt", O_RDONLY), EMFILE);
	for (int d = 0; d <= last; d++)
		if (d != fd && d != 1)
			close(d);
	CHECK(read(fd, buf, 5) == 5 && !memcmp(buf, "hello", 5)); /* its handle survived */
	close(fd);
	fd = open("a.txt", O_RDONLY);
	CHECK(fd >= 0 && fd < 10);
	close(fd);
}

static void devices(void)
{
	unsigned char buf[4096], buf2[64];
	struct stat st;

	int null = open("/dev/null", O_RDWR);
	CHECK(null >= 0);
	CHECK(read(null, buf, sizeof(buf)) == 0);
	CHECK(write(null, buf, sizeof(buf)) == sizeof(buf));
	CHECK(fstat(null, &st) == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 07777) == 0666);
	CHECK(st.st_rdev == makedev(1, 3) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3);
	CHECK(st.st_uid == 0 && st.st_size == 0 && st.st_mtime == 0);
	dev_t null_dev = st.st_dev;
	ino_t null_ino = st.st_ino;
	memset(&st, 0xff, sizeof(st));
	CHECK(fstatat(null, "", &st, AT_EMPTY_PATH) == 0 && st.st_rdev == makedev(1, 3));
	CHECK(st.st_dev == null_dev && st.st_ino == null_ino);
	FAILS_WITH(fstatat(null, "x", &st, 0), ENOTDIR);
	FAILS_WITH(openat(null, "x", O_RDONLY), ENOTDIR);
	FAILS_WITH(mkdirat(null, "x", 0755), ENOTDIR);
	CHECK(lseek(null, 100, SEEK_SET) == 0);
	FAILS_WITH(fsync(null), EINVAL);
	FAILS_WITH(ftruncate(null, 0), EINVAL);
	CHECK(!isatty(null) && errno == ENOTTY);
	FAILS_WITH(syscall(SYS_getdents64, null, buf, sizeof(buf)), ENOTDIR);
	CHECK(flock(null, LOCK_EX) == 0 && flock(null, LOCK_UN) == 0);
	CHECK((fcntl(null, F_GETFL) & O_ACCMODE) == O_RDWR && !(fcntl(null, F_GETFL) & O_NONBLOCK));
	CHECK(fcntl(null, F_SETFL, O_NONBLOCK) == 0 && (fcntl(null, F_GETFL) & O_NONBLOCK));
	CHECK((fcntl(null, F_GETFL) & O_ACCMODE) == O_RDWR);
	int d = dup(null);
	CHECK(close(null) == 0 && write(d, "x", 1) == 1 && close(d) == 0);
	FAILS_WITH(open("/dev/null", O_RDONLY | O_DIRECTORY), ENOTDIR);
	int wo = open("/dev/null", O_WRONLY);
	FAILS_WITH(read(wo, buf, 1), EBADF);
	close(wo);

	int zero = open("/dev/zero", O_RDONLY);
	memset(buf, 0xff, sizeof(buf));
	CHECK(read(zero, buf, sizeof(buf)) == sizeof(buf) && all(buf, sizeof(buf), 0));
	FAILS_WITH(write(zero, "x", 1), EBADF); /* opened read-only */
	struct iovec iov[2] = { { buf, 10 }, { buf + 100, 20 } };
	memset(buf, 0xff, sizeof(buf));
	CHECK(readv(zero, iov, 2) == 30 && all(buf, 10, 0) && buf[10] == 0xff && all(buf + 100, 20, 0));
	memset(buf, 0xff, sizeof(buf));
	CHECK(pread(zero, buf, 64, 12345) == 64 && all(buf, 64, 0));
	CHECK(fstat(zero, &st) == 0 && st.st_rdev == makedev(1, 5) && st.st_ino != null_ino);
	unsigned char *m = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, zero, 0);
	CHECK(m != MAP_FAILED && all(m, 8192, 0));
	if (m != MAP_FAILED)
		munmap(m, 8192);
	close(zero);

	int full = open("/dev/full", O_RDWR);
	FAILS_WITH(write(full, "x", 1), ENOSPC);
	memset(buf, 0xff, sizeof(buf));
	CHECK(read(full, buf, 100) == 100 && all(buf, 100, 0));
	CHECK(fstat(full, &st) == 0 && st.st_rdev == makedev(1, 7));
	close(full);

	const char *rnd[] = { "/dev/urandom", "/dev/random" };
	for (int i = 0; i < 2; i++) {
		int r = open(rnd[i], O_RDWR);
		memset(buf, 0, 64);
		memset(buf2, 0, 64);
		CHECK(r >= 0 && read(r, buf, 64) == 64 && read(r, buf2, 64) == 64);
		CHECK(!all(buf, 64, 0) && memcmp(buf, buf2, 64) != 0);
		CHECK(write(r, "seed", 4) == 4);
		CHECK(fstat(r, &st) == 0 && st.st_rdev == makedev(1, 9 - i));
		close(r);
	}

	FILE *f = fopen("/dev/null", "w");
	CHECK(f && fprintf(f, "into nothing\n") > 0 && fclose(f) == 0);
}

static void bad_pointers(void)
{
	struct stat st;
	int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_RDWR);
	int file = open("a.txt", O_RDONLY);
	char *none = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	FAILS_WITH(read(zero, NULL, 10), EFAULT);
	FAILS_WITH(read(zero, (void *)1, 10), EFAULT);
	FAILS_WITH(read(zero, (void *)0xdead00000000, 10), EFAULT);
	FAILS_WITH(read(zero, none, 10), EFAULT);
	FAILS_WITH(write(null, (void *)0xdead00000000, 10), EFAULT);
	CHECK(write(null, NULL, 0) == 0 && read(zero, NULL, 0) == 0);
	FAILS_WITH(syscall(SYS_fstat, null, NULL), EFAULT);
	FAILS_WITH(syscall(SYS_fstat, null, none), EFAULT);
	FAILS_WITH(syscall(SYS_newfstatat, null, NULL, &st, AT_EMPTY_PATH), EFAULT);
	FAILS_WITH(readv(zero, NULL, 1), EFAULT);
	struct iovec bad[2] = { { &st, 8 }, { none, 8 } };
	FAILS_WITH(readv(zero, bad, 2), EFAULT);
	FAILS_WITH(readv(zero, bad, -1), EINVAL);
	FAILS_WITH(readv(zero, bad, 2000), EINVAL);
	FAILS_WITH(read(file, NULL, 10), EFAULT);
	FAILS_WITH(read(file, none, 10), EFAULT);
	FAILS_WITH(open(NULL, O_RDONLY), EFAULT);
	FAILS_WITH(syscall(SYS_fstat, file, NULL), EFAULT);
	FAILS_WITH(syscall(SYS_newfstatat, AT_FDCWD, "a.txt", none, 0), EFAULT);
	int dir = open(".", O_RDONLY | O_DIRECTORY);
	FAILS_WITH(syscall(SYS_getdents64, dir, NULL, 100), EFAULT);
	close(dir);
	FAILS_WITH(syscall(SYS_getcwd, NULL, 100), EFAULT);
	munmap(none, 4096);
	close(zero);
	close(null);
	close(file);
}

static void redirect(const char *path)
{
	fflush(stdout);
	int save = dup(1), f = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (save < 0 || f < 0 || dup2(f, 1) != 1 || close(f) != 0)
		exit(2);
	printf("into the file\n");
	fflush(stdout);
	if (dup2(save, 1) != 1 || close(save) != 0)
		exit(3);
	printf("back on stdout\n");
}

/* The guest's umask shapes what it creates on the host; the caller checks the modes. */
static int umask_077(void)
{
	struct stat st;

	CHECK(umask(077) == 022); /* Linux's default, as the kernel starts it */
	int fd = open("secret", O_CREAT | O_WRONLY | O_EXCL, 0666);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(mkdir("private", 0777) == 0 && stat("private", &st) == 0 &&
	      (st.st_mode & 07777) == 0700);
	CHECK(umask(0) == 077);
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
	CHECK(posix_fadvise(fd, 0, 0, 99) == EINVAL);
	CHECK(posix_fadvise(999, 0, 0, POSIX_FADV_NORMAL) == EBADF);
	close(fd);
	return check_summary();
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "umask"))
		return umask_077();
	if (argc > 2 && !strcmp(argv[1], "redirect")) {
		redirect(argv[2]);
		return 0;
	}
	dups();
	bad_fds();
	devices();
	bad_pointers();
	unlink("a.txt");
	return check_summary();
}
