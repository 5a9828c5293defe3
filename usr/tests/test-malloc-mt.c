/* The allocator under threads: N workers (argv[1]; absent or 0: the cpus in our affinity
 * mask; worker 0 is the main thread) each allocate and free blocks of random sizes,
 * fill each with a pattern naming its owner and verify it before freeing it.  Some
 * blocks are handed to other threads through a shared stack and freed there, and at
 * the end every worker frees its neighbour's remaining blocks, so frees cross threads.
 * argv[2]: operations per worker (default 10000).  Exit status 0 when every block
 * came back intact and the counts add up, 1 otherwise. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/app.h"

#define MAX_THREADS 256
#define SLOTS 64
#define SHARED 128

struct block {
	uint64_t tag;
	size_t size;
	uint64_t data[];
};

struct worker {
	pthread_t thread;
	int id;
	long ops;
	struct block *slot[SLOTS];
	long allocated, freed, handed, taken, corrupt, failed;
};

static struct worker workers[MAX_THREADS];
static int nthreads;
static pthread_barrier_t barrier;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block *shared[SHARED];
static int nshared;

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t word(uint64_t tag, size_t i)
{
	return (tag + i) * 0x9e3779b97f4a7c15ULL ^ (tag >> 17);
}

static size_t random_size(uint64_t *rng)
{
	uint64_t r = next(rng);
	unsigned pick = r % 100;

	if (pick < 79)
		return r >> 32 & 255;
	if (pick < 99)
		return 256 + (r >> 32) % 4096;
	return 16384 + (r >> 32) % (128 * 1024);
}

static struct block *make(struct worker *w, uint64_t tag, size_t size)
{
	struct block *b = malloc(sizeof(*b) + size * sizeof(uint64_t));

	if (!b) {
		w->failed++;
		return NULL;
	}
	b->tag = tag;
	b->size = size;
	for (size_t i = 0; i < size; i++)
		b->data[i] = word(tag, i);
	w->allocated++;
	return b;
}

static void check_and_free(struct worker *w, struct block *b)
{
	int ok = 1;

	for (size_t i = 0; i < b->size; i++)
		ok &= b->data[i] == word(b->tag, i);
	if (!ok) {
		w->corrupt++;
		fprintf(stderr, "test-malloc-mt: worker %d: block %#llx of %zu words corrupt\n",
			w->id, (unsigned long long)b->tag, b->size);
	}
	free(b);
	w->freed++;
}

static void hand_over(struct worker *w, struct block *b)
{
	struct block *old = NULL;

	pthread_mutex_lock(&shared_lock);
	if (nshared == SHARED)
		old = shared[--nshared];
	shared[nshared++] = b;
	pthread_mutex_unlock(&shared_lock);
	w->handed++;
	if (old) {
		w->taken++;
		check_and_free(w, old);
	}
}

static void take_one(struct worker *w)
{
	struct block *b = NULL;

	pthread_mutex_lock(&shared_lock);
	if (nshared)
		b = shared[--nshared];
	pthread_mutex_unlock(&shared_lock);
	if (b) {
		w->taken++;
		check_and_free(w, b);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 0x1234567ULL * (uint64_t)(w->id + 1);

	pthread_barrier_wait(&barrier);
	for (long op = 0; op < w->ops; op++) {
		uint64_t r = next(&rng);
		int s = (int)(r % SLOTS);
		if (w->slot[s]) {
			if ((r >> 8) % 16 == 0)
				hand_over(w, w->slot[s]);
			else
				check_and_free(w, w->slot[s]);
		}
		if ((r >> 12) % 16 == 0)
			take_one(w);
		uint64_t tag = (uint64_t)w->id << 48 | (uint64_t)op;
		w->slot[s] = make(w, tag, random_size(&rng) / sizeof(uint64_t));
	}
	pthread_barrier_wait(&barrier);
	struct worker *n = &workers[(w->id + 1) % nthreads];
	for (int s = 0; s < SLOTS; s++) /* the neighbour's blocks: freed by another thread */
		if (n->slot[s])
			check_and_free(w, n->slot[s]);
	return NULL;
}

int main(int argc, char **argv)
{
	nthreads = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	long ops = argc > 2 ? atol(argv[2]) : 10000;
	long allocated = 0, freed = 0, corrupt = 0, failed = 0;

	if (nthreads < 1 || nthreads > MAX_THREADS || ops < 1) {
		fprintf(stderr, "usage: test-malloc-mt [THREADS 1-%d] [OPS]\n", MAX_THREADS);
		return 2;
	}
	printf("threads=%d\nops=%ld\n", nthreads, ops);
	fflush(stdout);
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		workers[i].id = i;
		workers[i].ops = ops;
	}
	for (int i = 1; i < nthreads; i++) {
		int err = pthread_create(&workers[i].thread, NULL, work, &workers[i]);
		if (err) {
			fprintf(stderr, "test-malloc-mt: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	work(&workers[0]);
	for (int i = 1; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	struct worker *w0 = &workers[0];
	while (nshared) /* what is left on the shared stack */
		take_one(w0);
	for (int i = 0; i < nthreads; i++) {
		allocated += workers[i].allocated;
		freed += workers[i].freed;
		corrupt += workers[i].corrupt;
		failed += workers[i].failed;
	}
	printf("allocated=%ld\nfreed=%ld\ncorrupt=%ld\nfailed=%ld\n", allocated, freed, corrupt,
	       failed);
	int ok = allocated == freed && !corrupt && !failed && allocated == ops * nthreads;
	printf("test-malloc-mt: %s\n", ok ? "ok" : "FAILED");
	return !ok;
}
