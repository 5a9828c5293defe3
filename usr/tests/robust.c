/* Robust and priority-inheritance mutexes (issue 15, §4): a robust mutex whose owner
 * died gives EOWNERDEAD (the owner gone through pthread_exit, which musl handles, and
 * through a bare SYS_exit, which the kernel's walk of its robust list handles), then
 * ENOTRECOVERABLE if not made consistent; PTHREAD_PRIO_INHERIT mutexes under
 * contention; the PI futex operations (LOCK_PI, UNLOCK_PI, TRYLOCK_PI,
 * WAIT_REQUEUE_PI, CMP_REQUEUE_PI) and WAKE_OP called directly, with Linux's errno
 * values; FUTEX_FD is ENOSYS (as on Linux), and named once in the kernel log. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"

#define FUTEX_WAKE_OP 5
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#define FUTEX_PRIVATE 128
#define FUTEX_WAITERS 0x80000000u
#define TID_MASK 0x3fffffffu
#define OP_ADD_3_IF_EQ_5 ((1u << 28) | (0u << 24) | (3u << 12) | 5u)

static long fx(volatile uint32_t *a, int op, uint32_t val, const void *ts, volatile uint32_t *a2,
	       uint32_t v3)
{
	long r = syscall(SYS_futex, a, op, val, ts, a2, v3);
	return r < 0 ? -errno : r;
}

static int tid(void)
{
	return (int)syscall(SYS_gettid);
}

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
	nanosleep(&ts, 0);
}

/* --- robust mutexes whose owner dies ------------------------------------------------ */

static pthread_mutex_t robust;
static volatile int held;

static void *die_holding(void *how)
{
	pthread_mutex_lock(&robust);
	held = 1;
	nap(30); /* main is waiting in pthread_mutex_lock by now */
	if (how)
		syscall(SYS_exit, 0); /* no pthread_exit: the kernel walks the robust list */
	return 0;
}

static int owner_dies(int raw)
{
	pthread_t th;

	held = 0;
	pthread_create(&th, 0, die_holding, raw ? (void *)1 : 0);
	while (!held)
		nap(1);
	int r = pthread_mutex_lock(&robust);
	if (!raw)
		pthread_join(th, 0);
	return r;
}

/* pshared: musl registers its robust list with the kernel only for process-shared
 * mutexes (private ones it handles in pthread_exit alone), on Linux too. */
static void init_mutex(pthread_mutex_t *m, int robustness, int protocol, int pshared)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, pshared);
	pthread_mutexattr_setrobust(&a, robustness);
	pthread_mutexattr_setprotocol(&a, protocol);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

static void robust_mutexes(void)
{
	pthread_mutexattr_t a;
	void *head;
	size_t len;

	pthread_mutexattr_init(&a);
	CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0);
	CHECK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT) == 0);
	pthread_mutexattr_destroy(&a);
	CHECK(syscall(SYS_get_robust_list, 0, &head, &len) == 0 && len == 24);
	FAILS_WITH(syscall(SYS_set_robust_list, head, 23), EINVAL);
	FAILS_WITH(syscall(SYS_get_robust_list, 999999, &head, &len), ESRCH);

	for (int pi = 0; pi < 2; pi++) {
		const char *kind = pi ? "robust PI" : "robust";
		char what[128];
		int proto = pi ? PTHREAD_PRIO_INHERIT : PTHREAD_PRIO_NONE;
		init_mutex(&robust, PTHREAD_MUTEX_ROBUST, proto, PTHREAD_PROCESS_PRIVATE);
		snprintf(what, sizeof(what), "%s: owner gone by pthread_exit: EOWNERDEAD", kind);
		check(owner_dies(0) == EOWNERDEAD, what);
		snprintf(what, sizeof(what), "%s: made consistent, unlocked, locked again", kind);
		check(pthread_mutex_consistent(&robust) == 0 && pthread_mutex_unlock(&robust) == 0 &&
		      pthread_mutex_lock(&robust) == 0 && pthread_mutex_unlock(&robust) == 0, what);
		init_mutex(&robust, PTHREAD_MUTEX_ROBUST, proto, PTHREAD_PROCESS_SHARED);
		snprintf(what, sizeof(what), "%s: owner gone by SYS_exit: EOWNERDEAD", kind);
		check(owner_dies(1) == EOWNERDEAD, what);
		snprintf(what, sizeof(what), "%s: unlocked without consistent: ENOTRECOVERABLE", kind);
		check(pthread_mutex_unlock(&robust) == 0 &&
		      pthread_mutex_lock(&robust) == ENOTRECOVERABLE, what);
	}
}

/* --- PTHREAD_PRIO_INHERIT under contention --------------------------------------------- */

#define THREADS 4
#define ROUNDS 20000
static pthread_mutex_t pi_mutex;
static long counter;

static void *count(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&pi_mutex);
		long c = counter;
		if (i % 512 == 0)
			sched_yield(); /* others come to the kernel to wait */
		counter = c + 1;
		pthread_mutex_unlock(&pi_mutex);
	}
	return 0;
}

static void pi_contention(void)
{
	pthread_t th[THREADS];

	init_mutex(&pi_mutex, PTHREAD_MUTEX_STALLED, PTHREAD_PRIO_INHERIT, PTHREAD_PROCESS_PRIVATE);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], 0, count, 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], 0);
	check(counter == (long)THREADS * ROUNDS, "PI mutex: 4 threads x 20000 increments");
}

/* --- the PI operations themselves -------------------------------------------------------- */

static volatile uint32_t gate, other_tid;

static void *park(void *arg)
{
	(void)arg;
	other_tid = (uint32_t)tid();
	while (!gate)
		fx(&gate, 0 | FUTEX_PRIVATE, 0, 0, 0, 0);
	return 0;
}

static void pi_ops(void)
{
	volatile uint32_t w = 0;
	uint32_t me = (uint32_t)tid();
	pthread_t th;

	CHECK(fx(&w, FUTEX_TRYLOCK_PI, 0, 0, 0, 0) == 0 && w == me);
	CHECK(fx(&w, FUTEX_TRYLOCK_PI, 0, 0, 0, 0) == -EDEADLK);
	CHECK(fx(&w, FUTEX_LOCK_PI, 0, 0, 0, 0) == -EDEADLK);
	CHECK(fx(&w, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == 0 && w == 0);
	CHECK(fx(&w, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == -EPERM);
	CHECK(fx(&w, FUTEX_LOCK_PI, 0, 0, 0, 0) == 0 && w == me);
	CHECK(fx(&w, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == 0 && w == 0);

	pthread_create(&th, 0, park, 0);
	while (!other_tid)
		nap(1);
	w = other_tid; /* held by a live thread */
	CHECK(fx(&w, FUTEX_TRYLOCK_PI, 0, 0, 0, 0) == -EAGAIN);
	CHECK(fx(&w, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == -EPERM);
	struct timespec at;
	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_nsec += 20000000;
	if (at.tv_nsec >= 1000000000) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000;
	}
	CHECK(fx(&w, FUTEX_LOCK_PI, 0, &at, 0, 0) == -ETIMEDOUT && (w & TID_MASK) == other_tid);
	gate = 1;
	fx(&gate, 1 | FUTEX_PRIVATE, 1, 0, 0, 0);
	pthread_join(th, 0);

	volatile uint32_t a = 0, b = 5;
	CHECK(fx(&a, FUTEX_WAKE_OP, 1, (void *)1, &b, OP_ADD_3_IF_EQ_5) == 0 && b == 8);
	CHECK(fx(&a, 2, 0, 0, 0, 0) == -ENOSYS); /* FUTEX_FD, gone from Linux since 2.6.26 */
	CHECK(fx(&a, 2, 0, 0, 0, 0) == -ENOSYS);
}

/* --- a condition variable that requeues onto a PI mutex ------------------------------- */

static volatile uint32_t cv, pi_lock;
static volatile int waiting, got;
static long results[2];

static void *cv_wait(void *arg)
{
	long *res = arg;
	__atomic_fetch_add(&waiting, 1, __ATOMIC_SEQ_CST);
	*res = fx(&cv, FUTEX_WAIT_REQUEUE_PI, 0, 0, &pi_lock, 0);
	if (*res == 0 && (pi_lock & TID_MASK) == (uint32_t)tid()) {
		got++; /* under pi_lock */
		*res = fx(&pi_lock, FUTEX_UNLOCK_PI, 0, 0, 0, 0);
	} else if (*res == 0) {
		*res = -1000; /* woken without owning the lock */
	}
	return 0;
}

static void requeue_pi(void)
{
	pthread_t th[2];

	CHECK(fx(&cv, FUTEX_CMP_REQUEUE_PI, 2, (void *)1, &pi_lock, 0) == -EINVAL);
	CHECK(fx(&cv, FUTEX_CMP_REQUEUE_PI, 1, (void *)1, &pi_lock, 7) == -EAGAIN);
	CHECK(fx(&cv, FUTEX_WAIT_REQUEUE_PI, 1, 0, &pi_lock, 0) == -EAGAIN);
	CHECK(fx(&cv, FUTEX_WAIT_REQUEUE_PI, 0, 0, &cv, 0) == -EINVAL);

	/* the lock is held: both waiters move to its queue, and get it in turn */
	pi_lock = (uint32_t)tid();
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], 0, cv_wait, &results[i]);
	while (waiting < 2)
		nap(1);
	nap(50); /* both are in the kernel by now */
	long moved = fx(&cv, FUTEX_CMP_REQUEUE_PI, 1, (void *)0x7fffffff, &pi_lock, 0);
	check(moved == 2, "CMP_REQUEUE_PI onto a held lock moves both waiters");
	check((pi_lock & FUTEX_WAITERS) != 0, "... and marks the lock FUTEX_WAITERS");
	CHECK(fx(&pi_lock, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], 0);
	check(results[0] == 0 && results[1] == 0 && got == 2 && pi_lock == 0,
	      "each waiter returns owning the lock, in turn");

	/* the lock is free: the waiter woken gets it at once */
	waiting = 0;
	pthread_create(&th[0], 0, cv_wait, &results[0]);
	while (waiting < 1)
		nap(1);
	nap(50);
	CHECK(fx(&cv, FUTEX_CMP_REQUEUE_PI, 1, 0, &pi_lock, 0) == 1);
	pthread_join(th[0], 0);
	CHECK(results[0] == 0 && got == 3 && pi_lock == 0);
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0); /* a hang shows where */
	robust_mutexes();
	pi_contention();
	pi_ops();
	requeue_pi();
	printf("robust: ");
	return check_summary();
}
