/* Futexes: wait queues keyed by the address of a 32-bit word (one address space). */
#include <errno.h>
#include <time.h>

#include <hermit/syscalls.h>
#include <hermit/task.h>

/* Linux's futex operations (musl has no <linux/futex.h>). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_CMD_MASK (~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME))

#define BUCKETS 256

static struct task *queues[BUCKETS];

static struct task **bucket(const void *addr)
{
	return &queues[((uint64_t)addr >> 2) % BUCKETS];
}

static void enqueue(struct task *t, uint64_t *addr, uint32_t bitset)
{
	struct task **q = bucket(addr);

	t->futex_addr = addr;
	t->futex_bitset = bitset;
	t->next = 0;
	while (*q)
		q = &(*q)->next;
	*q = t;
}

/* Take t off its futex queue (its wait timed out). */
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

/* Move up to n waiters on addr (matching bitset) to the run queue, or to addr2. */
static long move_waiters(uint64_t *addr, long n, uint32_t bitset, uint64_t *addr2)
{
	long done = 0;

	for (struct task **q = bucket(addr); *q && done < n;) {
		struct task *t = *q;
		if (t->futex_addr != addr || !(t->futex_bitset & bitset)) {
			q = &t->next;
			continue;
		}
		*q = t->next;
		t->futex_addr = 0;
		if (addr2)
			enqueue(t, addr2, t->futex_bitset);
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
	enqueue(current, addr, bitset);
	int r = sched_block(deadline);
	futex_cancel(current);
	return r;
}

/* The deadline for a timeout: relative for FUTEX_WAIT, absolute for WAIT_BITSET. */
static long deadline_of(int op, int realtime, const struct timespec *ts, uint64_t *out)
{
	*out = NO_DEADLINE;
	if (!ts)
		return 0;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return -EINVAL;
	uint64_t ns = (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
	uint64_t now = time_monotonic_ns();
	if (op == FUTEX_WAIT)
		*out = now + ns;
	else if (realtime) /* absolute wall-clock time: convert to the monotonic clock */
		*out = now + (ns > time_realtime_ns() ? ns - time_realtime_ns() : 0);
	else
		*out = ns;
	return 0;
}

long sys_futex(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t *addr = (uint64_t *)a0, deadline;
	int op = (int)a1 & FUTEX_CMD_MASK, realtime = (int)a1 & FUTEX_CLOCK_REALTIME;
	uint32_t val = (uint32_t)a2;
	long r;

	if ((uint64_t)addr & 3)
		return -EINVAL;
	switch (op) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (op == FUTEX_WAIT_BITSET && !(uint32_t)a5)
			return -EINVAL;
		r = deadline_of(op, realtime, (const struct timespec *)a3, &deadline);
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
	default:
		return -ENOSYS;
	}
}
