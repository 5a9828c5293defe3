/* mremap of anonymous mappings, through the system call (to see the kernel's errno) and
 * through musl's realloc (which uses it for large blocks): shrinking and growing in
 * place, moving with MREMAP_MAYMOVE and MREMAP_FIXED, and Linux's errors.  Every check
 * holds on Linux too.  Exit status 0 when all are right. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define MIB (1UL << 20)

static int failures;

static void check(int ok, const char *what)
{
	failures += !ok;
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	fflush(stdout);
}

/* The raw system call: its result, or -errno. */
static long sys_mremap(void *old, size_t old_len, size_t new_len, long flags, void *new_addr)
{
	long r = syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	return r == -1 ? -errno : r;
}

static unsigned char *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void fill(unsigned char *p, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i += 64)
		p[i] = (unsigned char)((i / 64 * 7 + salt) % 251 + 1);
}

static int filled(const unsigned char *p, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i += 64)
		if (p[i] != (unsigned char)((i / 64 * 7 + salt) % 251 + 1))
			return 0;
	return 1;
}

static int zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void in_place(void)
{
	unsigned char *p = map(8 * PAGE);

	fill(p, 8 * PAGE, 1);
	check(sys_mremap(p, 8 * PAGE, 3 * PAGE, 0, 0) == (long)p, "shrink in place");
	check(filled(p, 3 * PAGE, 1), "shrinking keeps the rest");
	/* The pages given back are free right after the mapping: it grows into them. */
	check(sys_mremap(p, 3 * PAGE, 8 * PAGE, 0, 0) == (long)p, "grow in place into free pages");
	check(filled(p, 3 * PAGE, 1) && zero(p + 3 * PAGE, 5 * PAGE),
	      "growing keeps the contents, the new pages read zero");
	/* The first half cannot grow into the second: that is still mapped. */
	check(sys_mremap(p, 4 * PAGE, 8 * PAGE, 0, 0) == -ENOMEM,
	      "no room to grow and no MREMAP_MAYMOVE: ENOMEM");
	check(sys_mremap(p, 8 * PAGE, 8 * PAGE, 0, 0) == (long)p, "the same size: nothing moves");
	munmap(p, 8 * PAGE);
}

static void moves(void)
{
	unsigned char *p = map(8 * PAGE), rest[4 * PAGE];

	fill(p, 8 * PAGE, 2);
	memcpy(rest, p + 4 * PAGE, sizeof(rest));
	long q = sys_mremap(p, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE, 0);
	check(q > 0 && q != (long)p, "MREMAP_MAYMOVE moves when it cannot grow in place");
	if (q > 0) {
		check(filled((unsigned char *)q, 4 * PAGE, 2) && zero((unsigned char *)q + 4 * PAGE,
								       12 * PAGE),
		      "the moved mapping has the old contents, then zeroes");
		munmap((void *)q, 16 * PAGE);
	}
	check(sys_mremap(p, 4 * PAGE, 4 * PAGE, 0, 0) == -EFAULT,
	      "the old range is gone after the move: EFAULT");
	check(!memcmp(p + 4 * PAGE, rest, sizeof(rest)), "the rest of the first mapping stays");
	munmap(p + 4 * PAGE, 4 * PAGE);

	unsigned char *src = map(4 * PAGE), *dst = map(8 * PAGE), beyond[2 * PAGE];
	fill(src, 4 * PAGE, 3);
	fill(dst, 8 * PAGE, 4);
	memcpy(beyond, dst + 6 * PAGE, sizeof(beyond));
	check(sys_mremap(src, 4 * PAGE, 6 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == (long)dst,
	      "MREMAP_FIXED moves to the address given");
	check(filled(dst, 4 * PAGE, 3) && zero(dst + 4 * PAGE, 2 * PAGE),
	      "MREMAP_FIXED: old contents, then zeroes");
	check(!memcmp(dst + 6 * PAGE, beyond, sizeof(beyond)),
	      "MREMAP_FIXED leaves what lies beyond the new size alone");
	check(sys_mremap(src, 4 * PAGE, 4 * PAGE, 0, 0) == -EFAULT, "MREMAP_FIXED: source gone");
	check(sys_mremap(dst, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst + PAGE) ==
		      -EINVAL,
	      "MREMAP_FIXED onto an overlapping range: EINVAL");
	munmap(dst, 8 * PAGE);
}

static void errors(void)
{
	unsigned char *p = map(4 * PAGE);

	check(sys_mremap(p + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0) == -EINVAL,
	      "unaligned old address: EINVAL");
	check(sys_mremap(p, PAGE, 2 * PAGE, 0x80, 0) == -EINVAL, "unknown flag: EINVAL");
	check(sys_mremap(p, PAGE, 2 * PAGE, MREMAP_FIXED, p + 8 * PAGE) == -EINVAL,
	      "MREMAP_FIXED without MREMAP_MAYMOVE: EINVAL");
	check(sys_mremap(p, PAGE, 0, MREMAP_MAYMOVE, 0) == -EINVAL, "new size 0: EINVAL");
	check(sys_mremap(p, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, p + PAGE + 1) ==
		      -EINVAL,
	      "unaligned MREMAP_FIXED target: EINVAL");
	munmap(p, 4 * PAGE);
	check(sys_mremap(p, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE, 0) == -EFAULT,
	      "unmapped old range: EFAULT");
}

static void big_move(void)
{
	unsigned char *p = map(64 * MIB);

	fill(p, 64 * MIB, 5);
	long q = sys_mremap(p, 64 * MIB, 256 * MIB, MREMAP_MAYMOVE, 0);
	check(q > 0 && filled((unsigned char *)q, 64 * MIB, 5) &&
		      zero((unsigned char *)q + 64 * MIB, MIB) &&
		      zero((unsigned char *)q + 255 * MIB, MIB),
	      "64 MiB grow to 256 MiB with MREMAP_MAYMOVE keeps every byte");
	if (q > 0)
		munmap((void *)q, 256 * MIB);
}

static void realloc_grows(void)
{
	size_t n = 4 * MIB;
	unsigned char *p = malloc(n);
	int ok = p != NULL;

	if (p)
		fill(p, n, 6);
	for (size_t size = 2 * n; ok && size <= 128 * MIB; size *= 2) {
		unsigned char *q = realloc(p, size);
		ok = q && filled(q, n, 6);
		if (q) {
			memset(q + n, 0x33, size - n);
			p = q;
		}
	}
	check(ok, "realloc of a 4 MiB block up to 128 MiB keeps its contents");
	unsigned char *s = ok ? realloc(p, 2 * MIB) : NULL;
	check(s && filled(s, 2 * MIB, 6), "realloc back to 2 MiB keeps the prefix");
	free(s ? s : p);
}

int main(void)
{
	in_place();
	moves();
	errors();
	big_move();
	realloc_grows();
	printf("mremap: %s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
