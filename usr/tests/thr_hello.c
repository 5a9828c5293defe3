/* Threads say hello: N pthreads (argv[1]; absent or 0: the cpus in our affinity mask) each
 * print their number and thread id, return a value and are joined.  Checks that every
 * thread ran exactly once, with its own thread id, its own thread-local storage and
 * its own stack, and that pthread_join hands back each return value.
 * Exit status: 0 when every check holds, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/app.h"

#define MAX_THREADS 1024

struct slot {
	int id;
	int runs;
	long tid;
	uintptr_t tls_addr;
	uintptr_t stack_addr;
};

static __thread int tls_id = -1;
static struct slot slots[MAX_THREADS];
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void *hello(void *arg)
{
	struct slot *s = arg;
	int local = s->id;

	if (tls_id != -1)
		return NULL; /* TLS not fresh: the caller notices the missing return value */
	tls_id = s->id;
	s->tid = syscall(SYS_gettid);
	s->tls_addr = (uintptr_t)&tls_id;
	s->stack_addr = (uintptr_t)&local;
	__atomic_add_fetch(&s->runs, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&print_lock);
	printf("Hello from thread %d (tid %ld)\n", s->id, s->tid);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
	sched_yield();
	if (tls_id != s->id) /* another thread's write must not show through */
		return NULL;
	return (void *)(uintptr_t)(s->id + 1000);
}

static int distinct(const struct slot *a, int n, long main_tid)
{
	for (int i = 0; i < n; i++) {
		if (a[i].tid <= 0 || a[i].tid == main_tid)
			return 0;
		for (int j = 0; j < i; j++)
			if (a[i].tid == a[j].tid || a[i].tls_addr == a[j].tls_addr ||
			    a[i].stack_addr == a[j].stack_addr)
				return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 && atoi(argv[1]) ? atoi(argv[1]) : affinity_cpus();
	pthread_t th[MAX_THREADS];
	int failures = 0;

	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: thr_hello [THREADS 1-%d]\n", MAX_THREADS);
		return 2;
	}
	printf("threads=%d\n", n);
	fflush(stdout);
	tls_id = -2;
	for (int i = 0; i < n; i++) {
		slots[i].id = i;
		int err = pthread_create(&th[i], NULL, hello, &slots[i]);
		if (err) {
			fprintf(stderr, "thr_hello: pthread_create of thread %d: %s\n", i, strerror(err));
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		void *ret;
		int err = pthread_join(th[i], &ret);
		if (err || ret != (void *)(uintptr_t)(i + 1000)) {
			fprintf(stderr, "thr_hello: thread %d: join %s, returned %p\n", i,
				strerror(err), ret);
			failures++;
		}
		if (slots[i].runs != 1) {
			fprintf(stderr, "thr_hello: thread %d ran %d times\n", i, slots[i].runs);
			failures++;
		}
	}
	if (!distinct(slots, n, syscall(SYS_gettid))) {
		fprintf(stderr, "thr_hello: threads share a thread id, TLS or stack\n");
		failures++;
	}
	if (tls_id != -2) {
		fprintf(stderr, "thr_hello: the main thread's TLS changed to %d\n", tls_id);
		failures++;
	}
	printf("joined=%d\n", n);
	printf("thr_hello: %s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
