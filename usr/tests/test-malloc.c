/* The allocator, single-threaded: blocks of many sizes filled with patterns that are
 * all verified while every block is live (so overlapping blocks show), alignment,
 * calloc zeroing, realloc growing and shrinking in place or moving, aligned
 * allocations, one big allocation touched page by page, and absurd sizes that must
 * fail with NULL and ENOMEM.  argv[1]: rounds (default 2); argv[2]: big allocation in
 * MiB (default 32).  Prints one line per check, "not ok" on failure; the exit status
 * is the number of failed checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLOCKS 600
#define PAGE 4096

static int checks, failures;
static void *volatile sink; /* keeps the compiler from eliding allocations */
static volatile size_t absurd_sizes[] = { SIZE_MAX, SIZE_MAX - PAGE, SIZE_MAX / 2,
					  (size_t)1 << 48 };

static void check(int ok, const char *what)
{
	checks++;
	failures += !ok;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
}

static unsigned char pattern(size_t block, size_t off)
{
	return (unsigned char)(block * 131 + off * 7 + (off >> 8) + 1);
}

static void fill(unsigned char *p, size_t n, size_t block)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(block, i);
}

static int intact(const unsigned char *p, size_t n, size_t block)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(block, i))
			return 0;
	return 1;
}

/* Sizes from 0 bytes to 1 MiB: every small size, then powers of two and their
 * neighbours, then odd sizes in between. */
static size_t size_of(size_t i)
{
	if (i < 200)
		return i;
	if (i < 200 + 3 * 21) {
		size_t k = (i - 200) / 3, p = (size_t)1 << k;
		return p + (i - 200) % 3 - 1;
	}
	return (i * 7919 * 13) % (1 << 15) + i;
}

static void sizes_round(int round)
{
	static unsigned char *blk[NBLOCKS];
	int allocated = 1, aligned = 1, ok = 1, grown = 1, shrunk = 1;

	for (size_t i = 0; i < NBLOCKS; i++) {
		size_t n = size_of(i);
		blk[i] = malloc(n);
		allocated &= blk[i] != NULL || n == 0;
		aligned &= ((uintptr_t)blk[i] & 15) == 0;
		if (blk[i])
			fill(blk[i], n, i + (size_t)round);
	}
	check(allocated, "malloc of 600 sizes from 0 B to 1 MiB");
	check(aligned, "every block 16-byte aligned");
	for (size_t i = 0; i < NBLOCKS; i++)
		ok &= blk[i] == NULL || intact(blk[i], size_of(i), i + (size_t)round);
	check(ok, "all patterns intact while every block is live");
	for (size_t i = 0; i < NBLOCKS; i += 2) { /* free half, reallocate the others */
		free(blk[i]);
		blk[i] = NULL;
	}
	for (size_t i = 1; i < NBLOCKS; i += 2) {
		size_t n = size_of(i), big = n * 2 + 100, small = n / 3 + 1;
		unsigned char *p = realloc(blk[i], big);
		grown &= p && intact(p, n, i + (size_t)round);
		if (!p)
			continue;
		fill(p, big, i + (size_t)round);
		unsigned char *q = realloc(p, small);
		shrunk &= q && intact(q, small, i + (size_t)round);
		blk[i] = q ? q : p;
	}
	check(grown, "realloc larger keeps the contents");
	check(shrunk, "realloc smaller keeps the prefix");
	for (size_t i = 0; i < NBLOCKS; i++)
		free(blk[i]);
}

static void calloc_and_aligned(void)
{
	int zero = 1, align = 1;

	for (size_t n = 1; n < (1 << 20); n = n * 3 + 1) {
		unsigned char *p = malloc(n);
		if (p) {
			memset(p, 0xa5, n);
			free(p);
		}
		unsigned char *z = calloc(n, 1);
		for (size_t i = 0; z && i < n; i++)
			zero &= z[i] == 0;
		zero &= z != NULL;
		free(z);
	}
	check(zero, "calloc returns zeroed memory after freed dirty blocks");
	for (size_t a = sizeof(void *); a <= 65536; a *= 2) {
		void *p = NULL;
		align &= posix_memalign(&p, a, 3 * a + 1) == 0 && ((uintptr_t)p & (a - 1)) == 0;
		if (p)
			memset(p, 0x5a, 3 * a + 1);
		void *q = aligned_alloc(a, 2 * a);
		align &= q && ((uintptr_t)q & (a - 1)) == 0;
		free(p);
		free(q);
	}
	check(align, "posix_memalign and aligned_alloc from 8 B to 64 KiB");
}

static void big(size_t mib)
{
	size_t n = mib << 20;
	unsigned char *p = malloc(n);
	int ok = p != NULL;

	check(ok, "big allocation");
	if (!ok)
		return;
	for (size_t off = 0; off < n; off += PAGE)
		p[off] = pattern(off / PAGE, 3);
	p[n - 1] = 0x77;
	for (size_t off = 0; off < n; off += PAGE)
		ok &= p[off] == pattern(off / PAGE, 3);
	check(ok && p[n - 1] == 0x77, "big allocation: every page written and read back");
	free(p);
	p = malloc(n);
	check(p != NULL, "big allocation again after free");
	free(p);
}

static void absurd(void)
{
	size_t count = sizeof(absurd_sizes) / sizeof(absurd_sizes[0]);
	int ok = 1;

	for (size_t i = 0; i < count; i++) {
		errno = 0;
		sink = malloc(absurd_sizes[i]);
		ok &= sink == NULL && errno == ENOMEM;
		free(sink);
	}
	check(ok, "malloc of absurd sizes returns NULL with ENOMEM");
	errno = 0;
	sink = calloc(absurd_sizes[2] / 4, 16);
	check(sink == NULL && errno == ENOMEM, "calloc overflow returns NULL");
	unsigned char *p = malloc(100);
	if (p)
		fill(p, 100, 9);
	errno = 0;
	unsigned char *q = p ? realloc(p, absurd_sizes[1]) : NULL;
	check(p && q == NULL && errno == ENOMEM, "realloc to an absurd size returns NULL");
	if (q)
		p = q;
	check(p && intact(p, 100, 9), "the block survives a failed realloc");
	free(p);
	void *after = malloc(1000);
	check(after != NULL, "malloc still works after the failures");
	free(after);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 2;
	int mib = argc > 2 ? atoi(argv[2]) : 32;

	if (rounds < 1 || mib < 1) {
		fprintf(stderr, "usage: test-malloc [ROUNDS] [BIG_MIB]\n");
		return 100;
	}
	for (int r = 0; r < rounds; r++)
		sizes_round(r);
	calloc_and_aligned();
	big((size_t)mib);
	absurd();
	printf("test-malloc: %d checks, %d failed\n", checks, failures);
	return failures;
}
