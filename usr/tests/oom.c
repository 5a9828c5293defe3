/* Running out of memory must be an error, not a crash: anonymous mmap in shrinking
 * chunk sizes until it fails with ENOMEM, every page written and read back; malloc in
 * shrinking sizes until it returns NULL with ENOMEM; then N threads (argv[1]; absent or 0:
 * the cpus in our affinity mask; thread 0 is the main thread) allocating at the same
 * time until each gets NULL.  After each phase everything is freed, and as much must
 * be allocatable again (within 10%).  On Linux RLIMIT_AS bounds the address space to
 * argv[2] MiB (default 128) so the host is safe; a kernel that ignores the limit runs
 * out of its real memory instead.  Exit status: 0 when every phase ended in a clean
 * ENOMEM and memory came back, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "../common/app.h"

#define MAX_THREADS 64
#define MAX_CHUNKS 65536
#define PAGE 4096
#define MIB (1UL << 20)

static int failures;
static void *chunks[MAX_CHUNKS];
static size_t sizes[MAX_CHUNKS];

static void check(int ok, const char *what)
{
	failures += !ok;
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	fflush(stdout);
}

static void touch(unsigned char *p, size_t n, unsigned char mark)
{
	for (size_t off = 0; off < n; off += PAGE)
		p[off] = mark;
	p[n - 1] = mark;
}

static int intact(const unsigned char *p, size_t n, unsigned char mark)
{
	for (size_t off = 0; off < n; off += PAGE)
		if (p[off] != mark)
			return 0;
	return p[n - 1] == mark;
}

static int mark(size_t i)
{
	return (int)(i * 37 % 251 + 1);
}

/* Map `size` chunks until mmap fails; returns how many, *err the errno of the failure. */
static size_t map_until_failure(size_t *count, size_t size, int *err)
{
	size_t mapped = 0;

	while (*count < MAX_CHUNKS) {
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED) {
			*err = errno;
			return mapped;
		}
		touch(p, size, (unsigned char)mark(*count));
		chunks[*count] = p;
		sizes[(*count)++] = size;
		mapped += size;
	}
	*err = 0; /* ran out of slots, not of memory */
	return mapped;
}

/* Map in shrinking chunk sizes until even a page fails; returns the bytes mapped. */
static size_t map_all(size_t *count, int *all_enomem)
{
	size_t total = 0, steps[] = { 64 * MIB, 4 * MIB, 256 * 1024, PAGE };
	int err = 0;

	*count = 0;
	*all_enomem = 1;
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		total += map_until_failure(count, steps[s], &err);
		*all_enomem &= err == ENOMEM;
	}
	return total;
}

static void mmap_phase(void)
{
	size_t count, again_count, total, again;
	int ok, again_ok, whole = 1, unmapped = 1;

	total = map_all(&count, &ok);
	printf("mmap_total_mib=%zu\nmmap_chunks=%zu\n", total / MIB, count);
	check(ok && total > 0, "mmap until it fails with ENOMEM, at every chunk size");
	for (size_t i = 0; i < count; i++)
		whole &= intact(chunks[i], sizes[i], (unsigned char)mark(i));
	check(whole, "every mapped page kept its contents");
	for (size_t i = 0; i < count; i++)
		unmapped &= munmap(chunks[i], sizes[i]) == 0;
	check(unmapped, "munmap of every chunk");
	again = map_all(&again_count, &again_ok);
	printf("mmap_again_mib=%zu\n", again / MIB);
	check(again_ok && again >= total / 10 * 9, "after munmap, as much can be mapped again");
	for (size_t i = 0; i < again_count; i++)
		munmap(chunks[i], sizes[i]);
}

/* malloc in shrinking sizes until even 1 KiB fails; returns the bytes allocated. */
static size_t malloc_all(size_t *count, int *all_enomem)
{
	size_t total = 0, steps[] = { 4 * MIB, 256 * 1024, 16 * 1024, 1024 };

	*count = 0;
	*all_enomem = 1;
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		while (*count < MAX_CHUNKS) {
			errno = 0;
			unsigned char *p = malloc(steps[s]);
			if (!p) {
				*all_enomem &= errno == ENOMEM;
				break;
			}
			touch(p, steps[s], (unsigned char)mark(*count));
			chunks[*count] = p;
			sizes[(*count)++] = steps[s];
			total += steps[s];
		}
	}
	return total;
}

static void malloc_phase(void)
{
	size_t count, again_count, total, again;
	int ok, again_ok, whole = 1;

	total = malloc_all(&count, &ok);
	printf("malloc_total_mib=%zu\nmalloc_blocks=%zu\n", total / MIB, count);
	check(ok && total > 0, "malloc until it returns NULL with ENOMEM, at every size");
	for (size_t i = 0; i < count; i++) {
		whole &= intact(chunks[i], sizes[i], (unsigned char)mark(i));
		free(chunks[i]);
	}
	check(whole, "every block kept its contents");
	again = malloc_all(&again_count, &again_ok);
	printf("malloc_again_mib=%zu\n", again / MIB);
	check(again_ok && again >= total / 10 * 9, "after free, as much can be allocated again");
	for (size_t i = 0; i < again_count; i++)
		free(chunks[i]);
}

struct hog {
	pthread_t thread;
	size_t blocks;
	int err;
	void *head; /* a list threaded through the blocks */
};

static pthread_barrier_t barrier;

static void *hog(void *arg)
{
	struct hog *h = arg;

	for (;;) {
		errno = 0;
		void **p = malloc(256 * 1024);
		if (!p) {
			h->err = errno;
			break;
		}
		touch((unsigned char *)p, 256 * 1024, 0x5a);
		*p = h->head;
		h->head = p;
		h->blocks++;
	}
	pthread_barrier_wait(&barrier); /* everyone has hit the wall before anyone frees */
	while (h->head) {
		void **p = h->head;
		h->head = *p;
		free(p);
	}
	return NULL;
}

static void threads_phase(int n)
{
	static struct hog hogs[MAX_THREADS];
	size_t blocks = 0;
	int ok = 1, created = 1;

	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	for (; created < n; created++)
		if (pthread_create(&hogs[created].thread, NULL, hog, &hogs[created]))
			break;
	if (created < n) {
		check(0, "pthread_create of the allocating threads");
		exit(1); /* the others wait at the barrier for ever */
	}
	hog(&hogs[0]);
	for (int i = 1; i < n; i++)
		pthread_join(hogs[i].thread, NULL);
	for (int i = 0; i < n; i++) {
		ok &= hogs[i].err == ENOMEM;
		blocks += hogs[i].blocks;
	}
	printf("threads_total_mib=%zu\n", blocks / 4);
	check(ok && blocks > 0, "threads allocating together all get NULL with ENOMEM");
	size_t count, again = malloc_all(&count, &ok);
	check(ok && again >= blocks * 256 * 1024 / 10 * 9,
	      "after free, as much can be allocated again");
	for (size_t i = 0; i < count; i++)
		free(chunks[i]);
}

int main(int argc, char **argv)
{
	int n = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	long limit_mib = argc > 2 ? atol(argv[2]) : 128;
	struct rlimit rl = { (rlim_t)limit_mib * MIB, (rlim_t)limit_mib * MIB };

	if (n < 1 || n > MAX_THREADS || limit_mib < 16) {
		fprintf(stderr, "usage: oom [THREADS 1-%d] [LIMIT_MIB >= 16]\n", MAX_THREADS);
		return 2;
	}
	if (setrlimit(RLIMIT_AS, &rl)) {
		perror("oom: setrlimit(RLIMIT_AS)");
		return 1;
	}
	printf("threads=%d\nlimit_mib=%ld\n", n, limit_mib);
	mmap_phase();
	malloc_phase();
	threads_phase(n);
	printf("oom: %s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
