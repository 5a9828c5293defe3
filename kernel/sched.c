/*
 * The scheduler: one run queue, round robin.  Threads switch in the kernel only
 * (blocking, yielding, exiting), so a switch never interrupts kernel code.
 * Deadlines (sleeps, futex timeouts) are checked whenever it picks a thread.
 */
#include <errno.h>

#include <hermit/task.h>

static struct task *rq_head, *rq_tail;
static struct task *zombie; /* a dead task whose stack we were still on */

void sched_add(struct task *t)
{
	t->next = 0;
	if (rq_tail)
		rq_tail->next = t;
	else
		rq_head = t;
	rq_tail = t;
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

/* Wake blocked tasks whose deadline passed; returns the earliest deadline left. */
static uint64_t expire(uint64_t now)
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
	return earliest;
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
			return; /* nothing else to run */
		arch_relax(); /* idle: wait for a deadline (a timer interrupt will halt here) */
	}
	if (next == prev)
		return;
	if (prev->state == TASK_DEAD)
		zombie = prev;
	current = next;
	arch_switch_to(prev, next);
	reap();
}

void sched_yield_now(void)
{
	sched_add(current);
	schedule();
}

/* Block until sched_wake() or the deadline; 0 or -ETIMEDOUT. */
int sched_block(uint64_t deadline)
{
	current->state = TASK_BLOCKED;
	current->deadline = deadline;
	current->timed_out = 0;
	schedule();
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

void sched_sleep_until(uint64_t deadline)
{
	while (time_monotonic_ns() < deadline && !sched_block(deadline))
		;
}
