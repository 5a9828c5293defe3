/*
 * The scheduler: one run queue, round robin.  Threads switch when they block,
 * yield or exit, and when the timer interrupts the application while others
 * wait (a time slice); kernel code itself is never preempted.  The timer is
 * tickless: armed for the next deadline that matters, off while nothing waits.
 */
#include <errno.h>

#include <hermit/task.h>

#define SLICE_NS 10000000ULL /* how long a thread runs while others wait */

static struct task *rq_head, *rq_tail;
static struct task *zombie; /* a dead task whose stack we were still on */
static uint64_t next_deadline = NO_DEADLINE; /* earliest sleeper, from expire() */

/* Arm the timer for the earliest of: a sleeper's deadline, the end of a slice. */
static void timer_update(void)
{
	uint64_t at = next_deadline;

	if (rq_head) {
		uint64_t slice = time_monotonic_ns() + SLICE_NS;
		at = slice < at ? slice : at;
	}
	arch_timer_arm(at == NO_DEADLINE ? 0 : time_ns_to_cycles(at));
}

void sched_add(struct task *t)
{
	t->next = 0;
	if (rq_tail)
		rq_tail->next = t;
	else
		rq_head = t;
	rq_tail = t;
	if (!arch_timer_armed())
		timer_update(); /* the running thread must give way in time */
}

static struct task *rq_pop(void)
{
	struct task *t = rq_head;

	if (t) {
		rq_head = t->next;
		if (!rq_head)
			rq_tail = 0;
		t->next = 0;
	}
	return t;
}

void futex_cancel(struct task *t);

/* Wake blocked tasks whose deadline passed; note the earliest deadline left. */
static void expire(uint64_t now)
{
	uint64_t earliest = NO_DEADLINE;

	for (struct task *t = task_first(); t; t = t->all_next) {
		if (t->state != TASK_BLOCKED || t->deadline == NO_DEADLINE)
			continue;
		if (t->deadline <= now) {
			futex_cancel(t);
			t->timed_out = 1;
			t->deadline = NO_DEADLINE;
			t->state = TASK_RUNNABLE;
			sched_add(t);
		} else if (t->deadline < earliest) {
			earliest = t->deadline;
		}
	}
	next_deadline = earliest;
}

static void reap(void)
{
	if (zombie && zombie != current) {
		task_free(zombie);
		zombie = 0;
	}
}

/* Run another thread; return when the current one is runnable and chosen again. */
void schedule(void)
{
	struct task *prev = current, *next;

	reap();
	for (;;) {
		expire(time_monotonic_ns());
		next = rq_pop();
		if (next)
			break;
		if (prev->state == TASK_RUNNABLE)
			break; /* nothing else to run */
		timer_update();
		arch_idle(); /* halt until the timer (or another interrupt) */
	}
	timer_update();
	if (!next || next == prev)
		return;
	if (prev->state == TASK_DEAD)
		zombie = prev;
	current = next;
	arch_switch_to(prev, next);
	reap();
}

/* The timer fired: wake sleepers; preempt the application if others wait. */
void timer_interrupt(int from_user)
{
	expire(time_monotonic_ns());
	if (from_user && rq_head)
		sched_yield_now();
	else
		timer_update();
}

void sched_yield_now(void)
{
	sched_add(current);
	schedule();
}

/* Block until sched_wake() or the deadline; 0 or -ETIMEDOUT. */
/* Block until sched_wake() (0), the deadline (-ETIMEDOUT) or a signal (-EINTR). */
int sched_block(uint64_t deadline)
{
	if ((current->sigpending | signal_process_pending()) & ~current->sigmask)
		return -EINTR; /* a signal is already waiting to be taken */
	current->state = TASK_BLOCKED;
	current->deadline = deadline;
	current->timed_out = current->interrupted = 0;
	schedule();
	if (current->interrupted) {
		current->interrupted = 0;
		return -EINTR;
	}
	return current->timed_out ? -ETIMEDOUT : 0;
}

void sched_wake(struct task *t)
{
	if (t->state != TASK_BLOCKED)
		return;
	t->state = TASK_RUNNABLE;
	t->deadline = NO_DEADLINE;
	sched_add(t);
}

/* 0 at the deadline, -EINTR when a signal came first. */
int sched_sleep_until(uint64_t deadline)
{
	while (time_monotonic_ns() < deadline) {
		int r = sched_block(deadline);
		if (r == -EINTR)
			return r;
	}
	return 0;
}
