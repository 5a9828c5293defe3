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
	arch_kick_idle_cpus();
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
	struct cpu *c = this_cpu();

	if (c->zombie && c->zombie != c->running) {
		task_free(c->zombie);
		c->zombie = 0;
	}
}

static void switch_to(struct task *prev, struct task *next)
{
	if (prev->state == TASK_DEAD)
		this_cpu()->zombie = prev;
	current = next;
	arch_switch_to(prev, next);
	reap();
}

/* Run another thread; return when the current one is runnable and chosen again.
 * Called with the kernel lock held; with nothing to run it goes to the idle task. */
void schedule(void)
{
	struct task *prev = current, *next;

	reap();
	expire(time_monotonic_ns());
	next = rq_pop();
	if (!next) {
		if (prev->state == TASK_RUNNABLE)
			return; /* nothing else to run */
		next = this_cpu()->idle;
	}
	timer_update();
	if (next != prev)
		switch_to(prev, next);
}

/* Each cpu's idle task: run what becomes runnable, halt (or poll) in between.
 * Entered with the kernel lock held, it releases the lock only while waiting. */
noreturn void idle_loop(void)
{
	for (;;) {
		reap();
		expire(time_monotonic_ns());
		struct task *next = rq_pop();
		if (next) {
			timer_update();
			switch_to(current, next);
			continue;
		}
		timer_update();
		kernel_unlock();
		if (arch_timer_available()) {
			arch_idle(); /* halt until the timer or a kick; then look again */
		} else {
			/* Poll without the lock: the cpus at work need it for every system call. */
			while (!__atomic_load_n(&rq_head, __ATOMIC_RELAXED) &&
			       time_monotonic_ns() < __atomic_load_n(&next_deadline, __ATOMIC_RELAXED))
				arch_relax();
		}
		kernel_lock();
	}
}

/* The timer fired: wake sleepers; preempt the application if others wait. */
void timer_interrupt(int from_user)
{
	if (!from_user)
		return; /* in the idle loop, which looks at deadlines itself */
	kernel_lock();
	expire(time_monotonic_ns());
	if (rq_head)
		sched_yield_now();
	else
		timer_update();
	kernel_unlock();
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
