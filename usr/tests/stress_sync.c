/* Hundreds of threads contending on every pthread synchronisation object, checking
 * exact totals: a mutex-protected counter, a bounded queue between producers and
 * consumers on condition variables (every item consumed exactly once), barrier rounds
 * (all arrivals visible after the barrier, one serial thread per round), a rwlock whose
 * readers must never see a half-done write, and a counting semaphore that never lets
 * more than its count in.  Then timeouts: pthread_cond_timedwait, sem_timedwait and
 * pthread_mutex_timedlock must give up with ETIMEDOUT, and not early.
 * argv[1]: threads (absent or 0: 128 per cpu in our affinity mask, at least 256, at most
 * 1024); argv[2]: work scale (default 1).  Exit status: the number of failed checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/app.h"

#define MAX_THREADS 1024
#define QUEUE 8
#define SEM_COUNT 4
#define TIMEOUT_NS 20000000L

static int nthreads, scale, checks, failures;
static pthread_barrier_t phase;

static int default_threads(void)
{
	int n = affinity_cpus() * 128;
	return n < 256 ? 256 : n > MAX_THREADS ? MAX_THREADS : n;
}

static void check(int ok, const char *what, long got, long want)
{
	checks++;
	failures += !ok;
	printf("%s %d - %s (%ld, expected %ld)\n", ok ? "ok" : "not ok", checks, what, got, want);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 1: a counter under a mutex, with a check that one thread at a time is inside */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long counter, mutex_overlaps;
static int inside;

static void mutex_phase(int id)
{
	int iters = 100 * scale;

	for (int i = 0; i < iters; i++) {
		if (i % 4 == 3) {
			while (pthread_mutex_trylock(&m))
				sched_yield();
		} else {
			pthread_mutex_lock(&m);
		}
		mutex_overlaps += ++inside != 1;
		long c = counter;
		if ((i + id) % 16 == 0)
			sched_yield(); /* hold the lock across a reschedule */
		counter = c + 1;
		inside--;
		pthread_mutex_unlock(&m);
	}
}

/* 2: producers (even ids) and consumers (odd ids) on a bounded queue */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long queue[QUEUE], qhead, qcount, consumed, total_items, sum, duplicates;
static unsigned char *seen;

static void produce(int id, int items)
{
	for (int k = 0; k < items; k++) {
		pthread_mutex_lock(&qlock);
		while (qcount == QUEUE)
			pthread_cond_wait(&not_full, &qlock);
		queue[(qhead + qcount++) % QUEUE] = (long)(id / 2) * items + k + 1;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&qlock);
	}
}

static void consume(void)
{
	pthread_mutex_lock(&qlock);
	for (;;) {
		while (qcount == 0 && consumed < total_items)
			pthread_cond_wait(&not_empty, &qlock);
		if (qcount == 0)
			break;
		long v = queue[qhead];
		qhead = (qhead + 1) % QUEUE;
		qcount--;
		sum += v;
		duplicates += seen[v]++ != 0;
		if (++consumed == total_items)
			pthread_cond_broadcast(&not_empty); /* release the other consumers */
		pthread_cond_signal(&not_full);
	}
	pthread_mutex_unlock(&qlock);
}

/* 3: barrier rounds */
static pthread_barrier_t round_barrier;
static int arrivals[64], serial[64], barrier_errors;

static void barrier_phase(void)
{
	for (int r = 0; r < 16; r++) {
		__atomic_add_fetch(&arrivals[r], 1, __ATOMIC_SEQ_CST);
		if (pthread_barrier_wait(&round_barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
			__atomic_add_fetch(&serial[r], 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&arrivals[r], __ATOMIC_SEQ_CST) != nthreads)
			__atomic_add_fetch(&barrier_errors, 1, __ATOMIC_SEQ_CST);
	}
}

/* 4: a rwlock guarding two counters that writers move together */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long pair_a, pair_b, torn, writers_inside;

static void rwlock_phase(int id)
{
	for (int i = 0; i < 40 * scale; i++) {
		if (id % 8 == 0) {
			pthread_rwlock_wrlock(&rw);
			writers_inside++;
			pair_a++;
			if (i % 8 == 0)
				sched_yield();
			pair_b++;
			writers_inside--;
			pthread_rwlock_unlock(&rw);
		} else {
			pthread_rwlock_rdlock(&rw);
			if (pair_a != pair_b || __atomic_load_n(&writers_inside, __ATOMIC_SEQ_CST))
				__atomic_add_fetch(&torn, 1, __ATOMIC_SEQ_CST);
			pthread_rwlock_unlock(&rw);
		}
	}
}

/* 5: a counting semaphore */
static sem_t sem;
static int sem_inside, sem_max, sem_entries;

static void sem_phase(void)
{
	for (int i = 0; i < 20 * scale; i++) {
		while (sem_wait(&sem) && errno == EINTR)
			;
		int in = __atomic_add_fetch(&sem_inside, 1, __ATOMIC_SEQ_CST), max;
		while ((max = __atomic_load_n(&sem_max, __ATOMIC_SEQ_CST)) < in &&
		       !__atomic_compare_exchange_n(&sem_max, &max, in, 0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST))
			;
		__atomic_add_fetch(&sem_entries, 1, __ATOMIC_SEQ_CST);
		if (i % 4 == 0)
			sched_yield();
		__atomic_sub_fetch(&sem_inside, 1, __ATOMIC_SEQ_CST);
		sem_post(&sem);
	}
}

static double phase_time[6];

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	double t = 0;

	for (int p = 0; p < 5; p++) {
		pthread_barrier_wait(&phase);
		if (id == 0)
			t = now();
		if (p == 0)
			mutex_phase(id);
		else if (p == 1 && id % 2 == 0)
			produce(id, 20 * scale);
		else if (p == 1)
			consume();
		else if (p == 2)
			barrier_phase();
		else if (p == 3)
			rwlock_phase(id);
		else
			sem_phase();
		pthread_barrier_wait(&phase);
		if (id == 0)
			phase_time[p] = now() - t;
	}
	return NULL;
}

static struct timespec deadline(long ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ns;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static void timeouts(void)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	sem_t zero;
	struct timespec ts;
	double t;
	int r;

	pthread_mutex_lock(&lock);
	t = now(); /* before the deadline is fixed: a pause between the two is not "early" */
	ts = deadline(TIMEOUT_NS);
	r = pthread_cond_timedwait(&cond, &lock, &ts);
	t = now() - t;
	pthread_mutex_unlock(&lock);
	check(r == ETIMEDOUT && t >= TIMEOUT_NS * 1e-9 * 0.999, "pthread_cond_timedwait times out",
	      (long)(t * 1e6), TIMEOUT_NS / 1000);

	sem_init(&zero, 0, 0);
	t = now();
	ts = deadline(TIMEOUT_NS);
	r = sem_timedwait(&zero, &ts) == -1 ? errno : 0;
	t = now() - t;
	check(r == ETIMEDOUT && t >= TIMEOUT_NS * 1e-9 * 0.999, "sem_timedwait times out",
	      (long)(t * 1e6), TIMEOUT_NS / 1000);
}

static void *hold_briefly(void *arg)
{
	pthread_mutex_t *lock = arg;
	struct timespec ts = deadline(TIMEOUT_NS);

	return (void *)(long)pthread_mutex_timedlock(lock, &ts);
}

static void timedlock(void)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_t t;
	void *r = 0;

	pthread_mutex_lock(&lock);
	if (pthread_create(&t, NULL, hold_briefly, &lock) == 0)
		pthread_join(t, &r);
	pthread_mutex_unlock(&lock);
	check((long)r == ETIMEDOUT, "pthread_mutex_timedlock on a held mutex times out", (long)r,
	      ETIMEDOUT);
}

int main(int argc, char **argv)
{
	static pthread_t th[MAX_THREADS];
	pthread_attr_t attr;

	nthreads = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : default_threads();
	scale = argc > 2 ? atoi(argv[2]) : 1;
	if (nthreads < 2 || nthreads > MAX_THREADS || scale < 1 || scale > 1000) {
		fprintf(stderr, "usage: stress_sync [THREADS 2-%d] [SCALE 1-1000]\n", MAX_THREADS);
		return 100;
	}
	printf("threads=%d\nscale=%d\n", nthreads, scale);
	fflush(stdout);
	int producers = (nthreads + 1) / 2, items = 20 * scale;
	total_items = (long)producers * items;
	seen = calloc((size_t)total_items + 1, 1);
	pthread_barrier_init(&phase, NULL, (unsigned)nthreads);
	pthread_barrier_init(&round_barrier, NULL, (unsigned)nthreads);
	sem_init(&sem, 0, SEM_COUNT);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	double start = now();
	int created = 1;
	for (; created < nthreads; created++)
		if (pthread_create(&th[created], &attr, worker, (void *)(long)created))
			break;
	if (created < nthreads) {
		fprintf(stderr, "stress_sync: pthread_create of thread %d of %d failed\n", created,
			nthreads);
		return 1;
	}
	worker(0);
	for (int i = 1; i < nthreads; i++)
		pthread_join(th[i], NULL);
	double seconds = now() - start;

	long writers = (nthreads + 7) / 8, serial_total = 0, arrivals_total = 0, sem_value = -1;
	check(counter == (long)nthreads * 100 * scale, "mutex counter", counter,
	      (long)nthreads * 100 * scale);
	check(mutex_overlaps == 0, "mutex: one thread inside at a time", mutex_overlaps, 0);
	check(consumed == total_items && duplicates == 0, "every queued item consumed once",
	      consumed - duplicates, total_items);
	check(sum == total_items * (total_items + 1) / 2, "sum of consumed items", sum,
	      total_items * (total_items + 1) / 2);
	for (int r = 0; r < 16; r++) {
		serial_total += serial[r];
		arrivals_total += arrivals[r];
	}
	check(barrier_errors == 0 && arrivals_total == 16L * nthreads,
	      "barrier: every arrival visible after each round", arrivals_total - barrier_errors,
	      16L * nthreads);
	check(serial_total == 16, "barrier: one serial thread per round", serial_total, 16);
	check(pair_a == pair_b && pair_a == writers * 40 * scale, "rwlock: writes", pair_a,
	      writers * 40 * scale);
	check(torn == 0, "rwlock: readers never see a write in progress", torn, 0);
	check(sem_max <= SEM_COUNT && sem_max >= 1, "semaphore: at most its count inside", sem_max,
	      SEM_COUNT);
	check(sem_entries == nthreads * 20 * scale, "semaphore: entries", sem_entries,
	      (long)nthreads * 20 * scale);
	int v;
	if (sem_getvalue(&sem, &v) == 0)
		sem_value = v;
	check(sem_value == SEM_COUNT, "semaphore: value restored", sem_value, SEM_COUNT);
	timeouts();
	timedlock();
	const char *names[] = { "mutex", "condvar", "barrier", "rwlock", "semaphore" };
	for (int p = 0; p < 5; p++)
		printf("%s_seconds=%.4f\n", names[p], phase_time[p]);
	printf("seconds=%.4f\n", seconds);
	printf("stress_sync: %d checks, %d failed\n", checks, failures);
	return failures;
}
