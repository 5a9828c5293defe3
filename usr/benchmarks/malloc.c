/* Large allocations in TSC cycles (issue 11): HermitCore's test-malloc pattern made
 * bench-sized (argv[1] allocations, default 20,000, of random sizes up to 8 MiB, each
 * written at its first and last byte, then freed: cycles per allocation), a 1 MiB
 * malloc+free, a 1 MiB malloc with every page touched before the free (medians of
 * argv[2] samples, default 201), and two bare system calls (the least an mmap and a
 * munmap can cost, shown beside them).  musl's malloc serves blocks this large with
 * mmap and munmap.  The sizes come from a fixed-seed generator: every run, native or
 * not, allocates the same sequence.  Output: key=value lines. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/app.h"

#define PAGE 4096
#define MIB (1 << 20)
#define MAX_SIZE (8 * MIB)

static uint64_t *cycles;
static int samples;

/* xorshift64: the same sizes everywhere, whatever the libc's rand() does */
static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double test_malloc(int n)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	uint64_t t = tsc_begin();

	for (int i = 0; i < n; i++) {
		size_t size = 1 + next(&seed) % MAX_SIZE;
		volatile char *p = malloc(size);
		if (!p) {
			fprintf(stderr, "malloc: malloc of %zu bytes failed\n", size);
			exit(1);
		}
		p[0] = 1;
		p[size - 1] = 1;
		free((void *)p);
	}
	return (double)(tsc_end() - t) / n;
}

static uint64_t one_mib(int touch)
{
	uint64_t t = tsc_begin();
	volatile char *p = malloc(MIB);

	if (!p) {
		fprintf(stderr, "malloc: malloc of 1 MiB failed\n");
		exit(1);
	}
	for (int i = 0; touch && i < MIB; i += PAGE)
		p[i] = 1;
	free((void *)p);
	return tsc_end() - t;
}

static double measure_1m(int touch)
{
	for (int i = 0; i < 8; i++) /* warm up */
		one_mib(touch);
	for (int s = 0; s < samples; s++)
		cycles[s] = one_mib(touch);
	return (double)median_of(cycles, (size_t)samples);
}

static double syscall_pair(void)
{
	for (int s = 0; s < samples; s++) {
		uint64_t t = tsc_begin();
		syscall(SYS_getppid);
		syscall(SYS_getppid);
		cycles[s] = tsc_end() - t;
	}
	return (double)median_of(cycles, (size_t)samples);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	samples = argc > 2 ? atoi(argv[2]) : 201;
	if (n < 1 || samples < 3 || samples > 100000) {
		fprintf(stderr, "usage: malloc [ALLOCATIONS >= 1] [SAMPLES 3-100000]\n");
		return 2;
	}
	cycles = malloc(sizeof(uint64_t) * (size_t)samples);
	if (!cycles)
		return 1;
	printf("allocations=%d\nsamples=%d\ntsc_mhz=%.0f\n", n, samples, tsc_mhz());
	printf("syscall_pair_cycles=%.0f\n", syscall_pair());
	printf("malloc_1m_cycles=%.0f\n", measure_1m(0));
	printf("malloc_1m_touch_cycles=%.0f\n", measure_1m(1));
	printf("test_malloc_cycles=%.0f\n", test_malloc(n));
	return 0;
}
