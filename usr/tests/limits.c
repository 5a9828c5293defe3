/* Limits (issue 15, §6): setrlimit/prlimit64 are honoured: RLIMIT_NOFILE caps new
 * fds (EMFILE, dup2's EBADF, F_DUPFD's EINVAL), RLIMIT_AS makes mmap fail and, once
 * mmap has used what it allows, brk too; RLIMIT_DATA makes brk and writable mmap
 * fail but not a PROT_NONE reservation; statfs/fstatfs/statvfs answer.  Prints
 * cwd_blocks= and cwd_bsize= for the test to compare with the host's figures; an
 * argument names a read-only mount to check ST_RDONLY on (hermit only). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../common/check.h"

#define MIB (1UL << 20)

/* The kernel's break after asking for `to` (musl's sbrk refuses any increment). */
static uintptr_t brk_to(uintptr_t to)
{
	return (uintptr_t)syscall(SYS_brk, to);
}

static int set_cur(int res, rlim_t cur)
{
	struct rlimit r;
	getrlimit(res, &r);
	r.rlim_cur = cur;
	return setrlimit(res, &r);
}

static void nofile(void)
{
	struct rlimit r, bad;
	int fds = 0, fd;

	CHECK(getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur >= 64);
	bad = r;
	bad.rlim_cur = r.rlim_max == RLIM_INFINITY ? r.rlim_max : r.rlim_max + 1;
	if (r.rlim_max != RLIM_INFINITY)
		FAILS_WITH(setrlimit(RLIMIT_NOFILE, &bad), EINVAL); /* soft above hard */
	CHECK(set_cur(RLIMIT_NOFILE, 10) == 0 && getrlimit(RLIMIT_NOFILE, &bad) == 0 &&
	      bad.rlim_cur == 10);
	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		fds++;
	check(fds == 7 && errno == EMFILE, "RLIMIT_NOFILE 10: fds 3-9, then EMFILE");
	FAILS_WITH(dup(0), EMFILE);
	FAILS_WITH(dup2(0, 10), EBADF);
	FAILS_WITH(fcntl(0, F_DUPFD, 10), EINVAL);
	CHECK(close(9) == 0 && dup2(0, 9) == 9);
	for (fd = 3; fd < 10; fd++)
		close(fd);
	CHECK(set_cur(RLIMIT_NOFILE, r.rlim_cur) == 0);
	fd = open("/dev/null", O_RDONLY);
	CHECK(fd == 3 && dup2(fd, 20) == 20 && close(20) == 0 && close(fd) == 0);
}

static void address_space(void)
{
	CHECK(set_cur(RLIMIT_AS, 256 * MIB) == 0);
	check(mmap(0, 512 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
	      MAP_FAILED && errno == ENOMEM, "RLIMIT_AS 256 MiB: a 512 MiB mmap fails (ENOMEM)");
	void *small = mmap(0, 16 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(small != MAP_FAILED && munmap(small, 16 * MIB) == 0);
	/* use up what it allows with mmap: then brk fails too */
	void *maps[64];
	int n = 0;
	while (n < 64 && (maps[n] = mmap(0, 8 * MIB, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) != MAP_FAILED)
		n++;
	check(n > 10 && n < 32, "8 MiB mmaps until the limit: fewer than 32");
	uintptr_t top = brk_to(0);
	check(brk_to(top + 8 * MIB) == top, "then brk fails");
	while (n--)
		munmap(maps[n], 8 * MIB);
	CHECK(set_cur(RLIMIT_AS, RLIM_INFINITY) == 0);
}

static void data(void)
{
	CHECK(set_cur(RLIMIT_DATA, 32 * MIB) == 0);
	uintptr_t top = brk_to(0);
	check(brk_to(top + 64 * MIB) == top, "RLIMIT_DATA 32 MiB: brk by 64 MiB fails");
	CHECK(brk_to(top + MIB) == top + MIB && brk_to(top) == top);
	check(mmap(0, 64 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
	      MAP_FAILED && errno == ENOMEM, "... and a writable 64 MiB mmap");
	void *none = mmap(0, 64 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(none != MAP_FAILED, "... but not a PROT_NONE reservation");
	if (none != MAP_FAILED)
		munmap(none, 64 * MIB);
	CHECK(set_cur(RLIMIT_DATA, RLIM_INFINITY) == 0);
	struct rlimit r = { 1, 0 };
	FAILS_WITH(setrlimit(RLIMIT_DATA, &r), EINVAL);
	FAILS_WITH(prlimit(0x3ffffff0, RLIMIT_DATA, 0, &r), ESRCH);
}

static void filesystems(const char *ro)
{
	struct statfs a, b;
	struct statvfs v;

	CHECK(statfs(".", &a) == 0 && a.f_bsize > 0 && a.f_blocks > 0);
	CHECK(statvfs(".", &v) == 0 && v.f_blocks == a.f_blocks && v.f_frsize > 0);
	printf("cwd_blocks=%llu\ncwd_bsize=%lu\n", (unsigned long long)v.f_blocks, v.f_frsize);
	int fd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0 && fstatfs(fd, &b) == 0 && b.f_type == a.f_type && b.f_blocks == a.f_blocks);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	CHECK(statfs("/dev/null", &a) == 0 && fd >= 0 && fstatfs(fd, &b) == 0 &&
	      a.f_type == b.f_type && a.f_bsize == b.f_bsize);
	close(fd);
	FAILS_WITH(statfs("/no/such/dir", &a), ENOENT);
	FAILS_WITH(fstatfs(99, &a), EBADF);
	FAILS_WITH(syscall(SYS_statfs, ".", 0), EFAULT); /* musl clears *buf first */
	FAILS_WITH(syscall(SYS_fstatfs, 0, 0), EFAULT);
	if (ro)
		check(statvfs(ro, &v) == 0 && (v.f_flag & ST_RDONLY), "a read-only mount: ST_RDONLY");
	CHECK(statvfs("/", &v) == 0 && v.f_namemax > 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	nofile();
	address_space();
	data();
	filesystems(argc > 1 ? argv[1] : 0);
	printf("limits: ");
	return check_summary();
}
