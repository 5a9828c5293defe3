/* Priority-inheritance futexes as Linux defines them (musl's PTHREAD_PRIO_INHERIT
 * mutexes, glibc's PI condition variables): the word holds the owner's tid, with
 * FUTEX_WAITERS set while threads wait in the kernel, and the kernel hands the lock
 * to the first waiter at FUTEX_UNLOCK_PI, so the word always names its owner.
 * Waiters are the highest priority first, and the owner runs at the priority of
 * its highest waiter while they wait (along a chain of owners waiting for other
 * PI locks, PI_CHAIN_MAX long), so a middle-priority thread cannot hold it off. */
#include <errno.h>

#include "futex.h"

#define PI_CHAIN_MAX 16

static int pi_waiter(const struct task *u)
{
	return u->futex_addr && !u->futex_bitset;
}

void futex_pi_update(struct task *o)
{
	for (int depth = 0; o && depth < PI_CHAIN_MAX; depth++) {
		int p = o->base_prio;
		for (struct task *u = task_first(); u; u = u->all_next)
			if (pi_waiter(u) && u->futex_pi_owner == o->tid && u->prio > p)
				p = u->prio;
		if (p != o->prio) {
			o->prio = p;
			sched_requeue(o);
		}
		/* o waits for a PI lock itself: that owner's priority may follow */
		o = pi_waiter(o) ? task_by_tid(o->futex_pi_owner) : 0;
	}
}

static void update_tid(uint64_t tid)
{
	struct task *t = tid ? task_by_tid(tid) : 0;
	if (t)
		futex_pi_update(t);
}

static uint32_t load(uint64_t *addr)
{
	return __atomic_load_n((volatile uint32_t *)addr, __ATOMIC_SEQ_CST);
}

static int cas(uint64_t *addr, uint32_t *old, uint32_t new)
{
	return __atomic_compare_exchange_n((volatile uint32_t *)addr, old, new, 0, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

/* The PI waiter to get the lock next: the highest priority, the longest waiting. */
static struct task *top_waiter(uint64_t *addr)
{
	struct task *best = 0;

	for (struct task *t = futex_first_waiter(addr, 1, 0); t; t = futex_first_waiter(addr, 1, t))
		if (!best || t->prio > best->prio)
			best = t;
	return best;
}

/* Give the lock at addr to t (off the queue), keeping `keep` bits (OWNER_DIED). */
static void grant(uint64_t *addr, struct task *t, uint32_t keep)
{
	futex_dequeue(t);
	t->futex_pi_target = 0;
	uint32_t w = (uint32_t)t->tid | keep | (top_waiter(addr) ? FUTEX_WAITERS : 0);
	__atomic_store_n((volatile uint32_t *)addr, w, __ATOMIC_SEQ_CST);
	t->futex_granted = 1;
	sched_wake(t);
	for (struct task *u = futex_first_waiter(addr, 1, 0); u; u = futex_first_waiter(addr, 1, u))
		u->futex_pi_owner = t->tid;
	futex_pi_update(t); /* it inherits from the waiters left */
}

/* As Linux's exit_pi_state_list: the kernel knows whom PI waiters wait for, even
 * when the C library already wrote the word (musl's pthread_exit marks a robust
 * lock free and owner-died): each such lock goes to its first waiter. */
void futex_pi_exit(struct task *t)
{
	for (struct task *u = task_first(); u;) {
		if (u->state == TASK_BLOCKED && u->futex_addr && !u->futex_bitset &&
		    u->futex_pi_owner == t->tid) {
			uint64_t *addr = u->futex_addr;
			grant(addr, top_waiter(addr), load(addr) & FUTEX_OWNER_DIED);
			u = task_first(); /* the queues changed: look again */
			continue;
		}
		u = u->all_next;
	}
}

/* Take the lock if free: 1 taken, 0 owned by another, < 0 an errno. */
static long try_take(uint64_t *addr, uint32_t tid)
{
	for (uint32_t w = load(addr);;) {
		if ((w & FUTEX_TID_MASK) == tid)
			return -EDEADLK;
		if (w & FUTEX_TID_MASK)
			return 0;
		/* free (maybe owner-died): ours, and the waiters still queued stay marked */
		if (cas(addr, &w, tid | (w & FUTEX_OWNER_DIED) | (top_waiter(addr) ? FUTEX_WAITERS : 0)))
			return 1;
	}
}

/* Wait in the PI queue of addr until the lock is handed over; the word has
 * FUTEX_WAITERS set, so its owner comes to the kernel to unlock. */
static long wait_granted(uint64_t *addr, uint64_t deadline, uint32_t owner)
{
	current->futex_granted = 0;
	current->futex_pi_owner = owner;
	futex_enqueue(current, addr, 0);
	update_tid(owner); /* it runs at our priority now, if that is higher */
	long r = sched_block(deadline);
	futex_cancel(current);
	current->futex_pi_target = 0;
	if (!current->futex_granted)
		update_tid(current->futex_pi_owner); /* gave up: its owner need not hurry */
	if (current->futex_granted) {
		current->futex_granted = 0;
		return 0;
	}
	return r ? r : -EAGAIN;
}

static long lock_pi(uint64_t *addr, uint64_t deadline, int try)
{
	uint32_t tid = (uint32_t)current->tid;

	for (;;) {
		long r = try_take(addr, tid);
		if (r)
			return r < 0 ? r : 0;
		if (try)
			return -EAGAIN;
		uint32_t w = load(addr);
		if (!(w & FUTEX_TID_MASK))
			continue;
		if (!task_by_tid(w & FUTEX_TID_MASK))
			return -ESRCH; /* the owner is gone and nobody marked it dead */
		if (!(w & FUTEX_WAITERS) && !cas(addr, &w, w | FUTEX_WAITERS))
			continue;
		r = wait_granted(addr, deadline, w & FUTEX_TID_MASK);
		if (r != -EAGAIN)
			return r;
	}
}

static long unlock_pi(uint64_t *addr)
{
	uint32_t w = load(addr);

	if ((w & FUTEX_TID_MASK) != (uint32_t)current->tid)
		return -EPERM;
	struct task *t = top_waiter(addr);
	if (t) {
		grant(addr, t, 0);
		futex_pi_update(current); /* back to its own priority */
		return 0;
	}
	while (!cas(addr, &w, 0)) /* only FUTEX_WAITERS can have changed meanwhile */
		;
	return 0;
}

/* A dead owner's PI lock (kernel/robust.c): the first waiter gets it, marked
 * owner-died; with none it is left free and marked. */
void futex_pi_owner_died(uint64_t *addr, uint32_t word)
{
	struct task *t = top_waiter(addr);

	if (t)
		grant(addr, t, FUTEX_OWNER_DIED);
	else
		__atomic_store_n((volatile uint32_t *)addr, (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED,
				 __ATOMIC_SEQ_CST);
}

/* A condition variable's waiter that will own the PI futex addr2 when woken. */
static long wait_requeue_pi(uint64_t *addr, uint32_t val, uint64_t deadline, uint64_t *addr2)
{
	if (addr == addr2)
		return -EINVAL;
	if (!futex_word_ok(addr2))
		return -EFAULT;
	if (load(addr) != val)
		return -EAGAIN;
	current->futex_granted = 0;
	current->futex_pi_target = addr2;
	futex_enqueue(current, addr, ~0u);
	long r = sched_block(deadline);
	futex_cancel(current);
	current->futex_pi_target = 0;
	if (current->futex_granted) {
		current->futex_granted = 0;
		return 0;
	}
	return r ? r : -EAGAIN;
}

/* Wake one waiter of addr as the owner of addr2 if it is free, move the rest (up
 * to nr_requeue) to addr2's PI queue; the number woken plus moved. */
static long cmp_requeue_pi(uint64_t *addr, uint32_t nr_wake, uint32_t nr_requeue, uint64_t *addr2,
			   uint32_t val3)
{
	if (nr_wake != 1 || addr == addr2)
		return -EINVAL;
	if (!futex_word_ok(addr2))
		return -EFAULT;
	if (load(addr) != val3)
		return -EAGAIN;
	long done = 0;
	struct task *t;
	while ((t = futex_first_waiter(addr, 0, 0)) && t->futex_pi_target) {
		if (t->futex_pi_target != addr2)
			return done ? done : -EINVAL;
		if (!done) {
			long r = try_take(addr2, (uint32_t)t->tid);
			if (r < 0)
				return r;
			if (r) {
				futex_dequeue(t);
				t->futex_pi_target = 0;
				t->futex_granted = 1;
				sched_wake(t);
				done++;
				continue;
			}
		}
		if ((long)done >= (long)nr_requeue + 1)
			break;
		uint32_t w = load(addr2);
		while (!(w & FUTEX_WAITERS) && !cas(addr2, &w, w | FUTEX_WAITERS))
			;
		futex_dequeue(t);
		t->futex_pi_owner = w & FUTEX_TID_MASK;
		futex_enqueue(t, addr2, 0); /* now a PI waiter of addr2 */
		update_tid(t->futex_pi_owner);
		done++;
	}
	return done;
}

long futex_pi(int op, uint64_t *addr, uint32_t val, const struct timespec *ts, uint64_t *addr2,
	      uint32_t val3, int realtime)
{
	uint64_t deadline;
	long r;

	switch (op) {
	case FUTEX_LOCK_PI: /* the timeout is absolute, on the wall clock */
		realtime = 1;
		/* fall through */
	case FUTEX_LOCK_PI2:
		r = futex_deadline(realtime, 1, ts, &deadline);
		return r ? r : lock_pi(addr, deadline, 0);
	case FUTEX_TRYLOCK_PI:
		return lock_pi(addr, NO_DEADLINE, 1);
	case FUTEX_UNLOCK_PI:
		return unlock_pi(addr);
	case FUTEX_WAIT_REQUEUE_PI:
		r = futex_deadline(realtime, 1, ts, &deadline);
		return r ? r : wait_requeue_pi(addr, val, deadline, addr2);
	default: /* FUTEX_CMP_REQUEUE_PI: ts is the count to requeue */
		return cmp_requeue_pi(addr, val, (uint32_t)(uint64_t)ts > 0x7fffffffu ? 0x7fffffffu :
					  (uint32_t)(uint64_t)ts, addr2, val3);
	}
}
