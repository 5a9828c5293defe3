/* Futexes: wait queues keyed by the address of a 32-bit word (one address space).
 * The priority-inheritance operations are kernel/futex_pi.c's. */
#include <errno.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>

#include "futex.h"

#define BUCKETS 256

static struct task *queues[BUCKETS];

static struct task **bucket(const void *addr)
{
	return &queues[((uint64_t)addr >> 2) % BUCKETS];
}

int futex_word_ok(uint64_t *addr)
{
	return !((uint64_t)addr & 3) && user_ok((uint64_t)addr, 4);
}

void futex_enqueue(struct task *t, uint64_t *addr, uint32_t bitset)
{
	struct task **q = bucket(addr);

	t->futex_addr = addr;
	t->futex_bitset = bitset;
	t->next = 0;
	while (*q)
		q = &(*q)->next;
	*q = t;
}

/* Take t off its futex queue (its wait timed out, or a signal came). */
void futex_cancel(struct task *t)
{
	if (!t->futex_addr)
		return;
	for (struct task **q = bucket(t->futex_addr); *q; q = &(*q)->next)
		if (*q == t) {
			*q = t->next;
			break;
		}
	t->futex_addr = 0;
}

void futex_dequeue(struct task *t)
{
	futex_cancel(t);
}

/* The first waiter on addr after `after` (0: from the start), PI waiters or others. */
struct task *futex_first_waiter(uint64_t *addr, int pi, struct task *after)
{
	struct task *t = after ? after->next : *bucket(addr);

	for (; t; t = t->next)
		if (t->futex_addr == addr && !t->futex_bitset == !!pi)
			return t;
	return 0;
}

/* Move up to n waiters on addr (matching bitset) to the run queue, or to addr2. */
static long move_waiters(uint64_t *addr, long n, uint32_t bitset, uint64_t *addr2)
{
	long done = 0;

	for (struct task **q = bucket(addr); *q && done < n;) {
		struct task *t = *q;
		if (t->futex_addr != addr || !(t->futex_bitset & bitset) || t->futex_pi_target) {
			q = &t->next;
			continue;
		}
		*q = t->next;
		t->futex_addr = 0;
		if (addr2)
			futex_enqueue(t, addr2, t->futex_bitset);
		else
			sched_wake(t);
		done++;
	}
	return done;
}

long futex_wake(uint64_t *addr, int n, uint32_t bitset)
{
	return move_waiters(addr, n, bitset, 0);
}

static long futex_wait(uint64_t *addr, uint32_t val, uint64_t deadline, uint32_t bitset)
{
	if (*(volatile uint32_t *)addr != val)
		return -EAGAIN;
	futex_enqueue(current, addr, bitset);
	int r = sched_block(deadline);
	futex_cancel(current);
	return r;
}

/* The deadline for a timeout: relative (FUTEX_WAIT) or absolute on the monotonic
 * or, with FUTEX_CLOCK_REALTIME, the wall clock. */
long futex_deadline(int realtime, int absolute, const struct timespec *ts, uint64_t *out)
{
	*out = NO_DEADLINE;
	if (!ts)
		return 0;
	if (!user_ok((uint64_t)ts, sizeof(*ts)))
		return -EFAULT;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return -EINVAL;
	uint64_t ns = (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
	uint64_t now = time_monotonic_ns();
	if (!absolute)
		*out = now + ns;
	else if (realtime) /* absolute wall-clock time: convert to the monotonic clock */
		*out = now + (ns > time_realtime_ns() ? ns - time_realtime_ns() : 0);
	else
		*out = ns;
	return 0;
}

/* FUTEX_WAKE_OP: *addr2 op= oparg, wake on addr, and on addr2 if the old value
 * passes the comparison (encoded in val3 as Linux does). */
static long wake_op(uint64_t *addr, int n, uint64_t *addr2, int n2, uint32_t val3)
{
	int op = (val3 >> 28) & 7, cmp = (val3 >> 24) & 15;
	int oparg = (int)(val3 << 8) >> 20, cmparg = (int)(val3 << 20) >> 20;

	if (!futex_word_ok(addr2))
		return -EFAULT;
	if (val3 & (8u << 28))
		oparg = 1 << (oparg & 31);
	volatile int *w = (volatile int *)addr2;
	int old = *w, new;
	do {
		switch (op) {
		case 0: new = oparg; break;
		case 1: new = old + oparg; break;
		case 2: new = old | oparg; break;
		case 3: new = old & ~oparg; break;
		case 4: new = old ^ oparg; break;
		default: return -ENOSYS;
		}
	} while (!__atomic_compare_exchange_n(w, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	int pass;
	switch (cmp) {
	case 0: pass = old == cmparg; break;
	case 1: pass = old != cmparg; break;
	case 2: pass = old < cmparg; break;
	case 3: pass = old <= cmparg; break;
	case 4: pass = old > cmparg; break;
	case 5: pass = old >= cmparg; break;
	default: return -ENOSYS;
	}
	long woken = futex_wake(addr, n, ~0u);
	return woken + (pass ? futex_wake(addr2, n2, ~0u) : 0);
}

static uint64_t reported_ops; /* one log line per unsupported operation */

static long unsupported(int op)
{
	if (op < 0 || op >= 64 || !(reported_ops & (1ULL << op))) {
		if (op >= 0 && op < 64)
			reported_ops |= 1ULL << op;
		kprintf("hermit: futex operation %d unsupported, returning -ENOSYS\n", op);
	}
	return -ENOSYS;
}

long sys_futex(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t *addr = (uint64_t *)a0, deadline;
	int op = (int)a1 & FUTEX_CMD_MASK, realtime = (int)a1 & FUTEX_CLOCK_REALTIME;
	uint32_t val = (uint32_t)a2;
	const struct timespec *ts = (const struct timespec *)a3;
	long r;

	if ((uint64_t)addr & 3)
		return -EINVAL;
	if (!futex_word_ok(addr))
		return -EFAULT;
	if (realtime && op != FUTEX_WAIT && op != FUTEX_WAIT_BITSET && op != FUTEX_WAIT_REQUEUE_PI &&
	    op != FUTEX_LOCK_PI2)
		return -ENOSYS; /* as Linux */
	switch (op) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (op == FUTEX_WAIT_BITSET && !(uint32_t)a5)
			return -EINVAL;
		r = futex_deadline(realtime, op != FUTEX_WAIT, ts, &deadline);
		return r ? r : futex_wait(addr, val, deadline, op == FUTEX_WAIT ? ~0u : (uint32_t)a5);
	case FUTEX_WAKE:
		return futex_wake(addr, (int)val, ~0u);
	case FUTEX_WAKE_BITSET:
		return (uint32_t)a5 ? futex_wake(addr, (int)val, (uint32_t)a5) : -EINVAL;
	case FUTEX_CMP_REQUEUE:
		if (*(volatile uint32_t *)addr != (uint32_t)a5)
			return -EAGAIN;
		/* fall through */
	case FUTEX_REQUEUE: {
		long woken = move_waiters(addr, (int)val, ~0u, 0);
		return woken + move_waiters(addr, (long)(uint32_t)a3, ~0u, (uint64_t *)a4);
	}
	case FUTEX_WAKE_OP:
		return wake_op(addr, (int)val, (uint64_t *)a4, (int)(uint32_t)a3, (uint32_t)a5);
	case FUTEX_LOCK_PI:
	case FUTEX_LOCK_PI2:
	case FUTEX_UNLOCK_PI:
	case FUTEX_TRYLOCK_PI:
	case FUTEX_WAIT_REQUEUE_PI:
	case FUTEX_CMP_REQUEUE_PI:
		return futex_pi(op, addr, val, ts, (uint64_t *)a4, (uint32_t)a5, realtime);
	default:
		return unsupported(op);
	}
}
