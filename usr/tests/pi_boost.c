/* Priority inheritance (issue 15, §4): on one cpu, a SCHED_FIFO thread L (10) holds
 * a PTHREAD_PRIO_INHERIT mutex that H (30) then waits for, while M (20) is ready
 * to run.  With inheritance L runs at 30 until it unlocks, so the order is
 * "L unlocks, H locks, M runs"; without, M runs first (priority inversion).
 * Needs SCHED_FIFO: on Linux without the right to it, prints "pi_boost=skipped". */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <string.h>

#include "../common/app.h"
#include "../common/check.h"

static pthread_mutex_t m;
static sem_t locked;
static char order[64];

static void note(const char *what)
{
	strcat(order, what); /* one cpu, FIFO threads: no two run at once */
}

static void *low(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	sem_post(&locked); /* main (50) takes the cpu back here */
	note("L-unlocks ");
	pthread_mutex_unlock(&m);
	return 0;
}

static void *high(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	note("H-locks ");
	pthread_mutex_unlock(&m);
	return 0;
}

static void *middle(void *arg)
{
	(void)arg;
	note("M-runs ");
	return 0;
}

static int start(pthread_t *th, void *(*fn)(void *), int prio)
{
	pthread_attr_t a;
	struct sched_param p = { .sched_priority = prio };

	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_FIFO);
	pthread_attr_setschedparam(&a, &p);
	int r = pthread_create(th, &a, fn, 0);
	pthread_attr_destroy(&a);
	return r;
}

int main(void)
{
	struct sched_param p = { .sched_priority = 50 };
	pthread_mutexattr_t a;
	pthread_t l, h, mid;

	setvbuf(stdout, 0, _IOLBF, 0);
	if (pin_to_cpu(0) || pthread_setschedparam(pthread_self(), SCHED_FIFO, &p)) {
		printf("pi_boost=skipped\n");
		return 0;
	}
	pthread_mutexattr_init(&a);
	CHECK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT) == 0);
	pthread_mutex_init(&m, &a);
	sem_init(&locked, 0, 0);
	CHECK(start(&l, low, 10) == 0);
	sem_wait(&locked); /* L holds the mutex and waits behind main */
	CHECK(start(&h, high, 30) == 0 && start(&mid, middle, 20) == 0);
	pthread_join(h, 0); /* H blocks on the mutex: L inherits 30 and goes before M */
	pthread_join(mid, 0);
	pthread_join(l, 0);
	printf("order=%s\n", order);
	check(!strcmp(order, "L-unlocks H-locks M-runs "), "the holder inherits the waiter's priority");
	struct sched_param q;
	int policy;
	check(pthread_getschedparam(pthread_self(), &policy, &q) == 0 && q.sched_priority == 50,
	      "sched_getparam shows the thread's own priority");
	printf("pi_boost: ");
	return check_summary();
}
