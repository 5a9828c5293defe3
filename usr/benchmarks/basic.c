/* The cost of basic operations in TSC cycles: getpid, sched_yield, clock_gettime,
 * malloc+free (64 B and 256 KiB), a 1-byte write (to /dev/null, else to a file in the
 * working directory), and the first touch of a freshly mapped page.  Each figure is the
 * median over argv[1] samples (default 201; a quarter of them for the 256 KiB
 * allocation and the write) of a batch of calls, divided by the batch.
 * Output: key=value lines. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../common/app.h"

#define PAGE 4096
#define BATCH 64
#define TOUCH_BATCH 16

static int samples;
static uint64_t *cycles;
static void *volatile sink;
static int write_fd = -1;

static void op_getpid(void)
{
	(void)getpid();
}

static void op_yield(void)
{
	sched_yield();
}

static void op_malloc(void)
{
	sink = malloc(64);
	free(sink);
}

static void op_malloc_large(void)
{
	sink = malloc(256 * 1024);
	free(sink);
}

static void op_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
}

static void op_write(void)
{
	if (write(write_fd, "x", 1) != 1)
		abort();
}

static void op_none(void)
{
}

/* Cycles of one call of `op`: the median of `count` batches divided by the batch size. */
static double measure(void (*op)(void), int batch, int count)
{
	for (int i = 0; i < batch * 4; i++) /* warm up */
		op();
	for (int s = 0; s < count; s++) {
		uint64_t t = tsc_begin();
		for (int i = 0; i < batch; i++)
			op();
		cycles[s] = tsc_end() - t;
	}
	return (double)median_of(cycles, (size_t)count) / batch;
}

static double page_touch(double overhead)
{
	size_t pages = (size_t)samples * TOUCH_BATCH;
	volatile char *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		return -1;
	for (int s = 0; s < samples; s++) {
		volatile char *p = mem + (size_t)s * TOUCH_BATCH * PAGE;
		uint64_t t = tsc_begin();
		for (int i = 0; i < TOUCH_BATCH; i++)
			p[i * PAGE] = 1;
		cycles[s] = tsc_end() - t;
	}
	munmap((void *)mem, pages * PAGE);
	double m = ((double)median_of(cycles, (size_t)samples) - overhead) / TOUCH_BATCH;
	return m < 0 ? 0 : m;
}

static const char *open_write_target(void)
{
	write_fd = open("/dev/null", O_WRONLY);
	if (write_fd >= 0)
		return "/dev/null";
	write_fd = open("basic-write.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (write_fd >= 0) {
		unlink("basic-write.tmp");
		return "file";
	}
	return NULL;
}

int main(int argc, char **argv)
{
	samples = argc > 1 ? atoi(argv[1]) : 201;
	if (samples < 3 || samples > 100000) {
		fprintf(stderr, "usage: basic [SAMPLES 3-100000]\n");
		return 2;
	}
	cycles = malloc(sizeof(uint64_t) * (size_t)samples);
	if (!cycles)
		return 1;
	printf("samples=%d\ntsc_mhz=%.0f\n", samples, tsc_mhz());
	int few = samples / 4 < 3 ? 3 : samples / 4; /* for the slow operations */
	double overhead = measure(op_none, 1, samples);
	printf("tsc_overhead_cycles=%.0f\n", overhead);
	printf("getpid_cycles=%.1f\n", measure(op_getpid, BATCH, samples));
	printf("sched_yield_cycles=%.1f\n", measure(op_yield, BATCH, samples));
	printf("clock_gettime_cycles=%.1f\n", measure(op_clock, BATCH, samples));
	printf("malloc_free_cycles=%.1f\n", measure(op_malloc, BATCH, samples));
	printf("malloc_free_256k_cycles=%.1f\n", measure(op_malloc_large, 4, few));
	const char *target = open_write_target();
	if (target) {
		printf("write_target=%s\n", target);
		printf("write_cycles=%.1f\n", measure(op_write, 4, few));
		close(write_fd);
	} else {
		printf("write_target=none\n");
	}
	double touch = page_touch(overhead);
	if (touch >= 0)
		printf("page_touch_cycles=%.1f\n", touch);
	return 0;
}
