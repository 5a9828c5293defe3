/* Guest memory beyond 4 GiB (run with HERMIT_MEM=8G): one anonymous mmap of GIB GiB
 * (argv[1], default 5: more than fits below the 32-bit hole), written and read back
 * one byte every STRIDE bytes (argv[2] KiB, default 1024: few enough touches for
 * QEMU/TCG) and zero in between; a write() from a buffer above 4 GiB (the loader must
 * translate it) and one from the hole below (EFAULT); 192 maps of 16 MiB with their
 * own marks, half of them unmapped and mapped again (zero again); then mmap and
 * malloc of more than the guest's RAM fail with ENOMEM, and the big map works again.
 * Exit status 0 when all is right. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define MIB (1UL << 20)
#define GIB (1UL << 30)
#define SMALL (16 * MIB)
#define NSMALL 192

static int failures;
static size_t stride = MIB;
static unsigned char *small[NSMALL];

static void check(int ok, const char *what)
{
	failures += !ok;
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	fflush(stdout);
}

static unsigned char mark(size_t i, unsigned salt)
{
	return (unsigned char)((i * 131 + salt * 29) % 251 + 1);
}

static void touch(unsigned char *p, size_t n, unsigned salt)
{
	for (size_t off = 0; off < n; off += stride)
		p[off] = mark(off / stride, salt);
	p[n - 1] = mark(7, salt);
}

/* The touched bytes hold their marks, and a byte between two touches is still zero. */
static int intact(const unsigned char *p, size_t n, unsigned salt)
{
	for (size_t off = 0; off < n; off += stride) {
		if (p[off] != mark(off / stride, salt))
			return 0;
		if (off + stride / 2 < n - 1 && stride > 1 && p[off + stride / 2])
			return 0;
	}
	return p[n - 1] == mark(7, salt);
}

static int zeroed(const unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n; off += stride)
		if (p[off])
			return 0;
	return !p[n - 1];
}

static unsigned char *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void big_map(size_t size, const char *what)
{
	unsigned char *p = map(size);
	char line[96];

	snprintf(line, sizeof(line), "mmap of %zu GiB in one call %s", size / GIB, what);
	check(p != NULL, line);
	if (!p)
		return;
	check((uintptr_t)p + size > 4 * GIB, "the mapping reaches above 4 GiB");
	touch(p, size, 1);
	check(intact(p, size, 1), "one byte per stride written and read back, zero between");
	/* A system call whose buffer lies above 4 GiB: the loader translates it. */
	static const char msg[] = "written from above 4 GiB\n";
	unsigned char *high = p + size - 2 * MIB;
	memcpy(high, msg, sizeof(msg) - 1);
	check((uintptr_t)high >= 4 * GIB && write(1, high, sizeof(msg) - 1) == sizeof(msg) - 1,
	      "write() from a buffer above 4 GiB");
	/* Between 3 and 4 GiB there is no RAM on any machine: the loader must refuse it. */
	errno = 0;
	check(write(1, (void *)(3 * GIB + GIB / 2), 16) == -1 && errno == EFAULT,
	      "write() from the 32-bit hole: EFAULT");
	check(munmap(p, size) == 0, "munmap of the big mapping");
}

static void small_maps(void)
{
	int all = 1, kept = 1, again = 1, high = 0;

	for (unsigned i = 0; i < NSMALL; i++) {
		small[i] = map(SMALL);
		all &= small[i] != NULL;
		if (!small[i])
			break;
		touch(small[i], SMALL, i);
		high |= (uintptr_t)small[i] >= 4 * GIB;
	}
	check(all, "192 mmaps of 16 MiB");
	check(high, "some of them above 4 GiB");
	for (unsigned i = 0; all && i < NSMALL; i++)
		kept &= intact(small[i], SMALL, i);
	check(all && kept, "each kept its own contents");
	for (unsigned i = 0; all && i < NSMALL; i += 2) {
		munmap(small[i], SMALL);
		small[i] = map(SMALL);
		again &= small[i] != NULL && zeroed(small[i], SMALL);
		if (small[i])
			touch(small[i], SMALL, i + 1000);
	}
	for (unsigned i = 0; all && i < NSMALL; i++)
		again &= small[i] && intact(small[i], SMALL, i % 2 ? i : i + 1000);
	check(all && again, "half of them unmapped and mapped again: fresh zeroes, others intact");
	for (unsigned i = 0; i < NSMALL; i++)
		if (small[i])
			munmap(small[i], SMALL);
}

static void too_large(void)
{
	struct sysinfo si;
	size_t total = sysinfo(&si) == 0 ? (size_t)si.totalram * si.mem_unit : 0;

	check(total >= 7 * GIB, "sysinfo reports the guest's RAM (HERMIT_MEM=8G)");
	printf("totalram_mib=%zu\n", total / MIB);
	errno = 0;
	check(map(total + GIB) == NULL && errno == ENOMEM, "mmap of more than all RAM: ENOMEM");
	errno = 0;
	void *m = malloc(total + GIB);
	check(m == NULL && errno == ENOMEM, "malloc of more than all RAM: NULL, ENOMEM");
	free(m);
}

int main(int argc, char **argv)
{
	size_t gib = argc > 1 ? strtoul(argv[1], NULL, 0) : 5;
	size_t kib = argc > 2 ? strtoul(argv[2], NULL, 0) : 1024;

	if (!gib || !kib || kib % 4) {
		fprintf(stderr, "usage: bigmem [GIB] [STRIDE_KIB, a multiple of 4]\n");
		return 2;
	}
	stride = kib * 1024;
	big_map(gib * GIB, "");
	small_maps();
	too_large();
	big_map(gib * GIB, "again, after everything was freed");
	printf("bigmem: %s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
