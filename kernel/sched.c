/*
 * The scheduler: a run queue per cpu, highest priority first, round robin
 * within a priority (10 ms slices; SCHED_FIFO keeps the cpu until it blocks or
 * yields).  A task that becomes runnable goes to a free cpu it may use
 * (kernel/runq.c); a cpu with nothing to run takes from the others' queues.
 * Kernel code is never preempted: the timer and kicks from other cpus act on
 * the way back to the application.  Tickless: each cpu's timer is armed for its
 * next deadline that matters (a thread of its own waking, the end of a slice
 * while another waits for the cpu), and off while there is none.
 */
#include <errno.h>
#include <sched.h>

#include <hermit/arch.h>
#include <hermit/clock.h>
#include <hermit/poll.h>
#include <hermit/task.h>

/* Without a timer (kvm_pvm) an idle cpu polls; after IDLE_SPIN_NS of nothing it asks
 * uhyve to block its vCPU (HC_IDLE) until woken (HC_WAKE) or until IDLE_EARLY_NS
 * before the next sleeper is due, then polls again: wake-ups stay as precise as
 * polling, and an idle cpu costs the host nothing. */
#define IDLE_SPIN_NS 200000ULL
#define IDLE_EARLY_NS 1000000ULL

static uint64_t next_deadline = NO_DEADLINE; /* earliest sleeper of all (polling idle cpus) */
static uint64_t slice_end[HERMIT_HC_MAILBOX_SLOTS];
static uint64_t exited_ns; /* cpu time of threads that ended */

/* Whether the queued `t` takes cpu c from the task running there (slice_over:
 * that one used up its slice). */
static int preempts(const struct cpu *c, const struct task *t, int slice_over)
{
	const struct task *cur = c->running;

	if (!t)
		return 0;
	if (cur == c->idle)
		return 1;
	if (t->prio != cur->prio)
		return t->prio > cur->prio;
	return slice_over && cur->policy != SCHED_FIFO;
}

/* Arm this cpu's timer for its earliest sleeper and, while a task of at least
 * the running one's priority waits, the end of the running one's slice. */
static void timer_update(void)
{
	struct cpu *c = this_cpu();
	uint64_t at = c->deadline;

	if (c->running != c->idle && preempts(c, c->rq.head, 1)) {
		uint64_t now = time_monotonic_ns();
		if (slice_end[c->id] <= now)
			slice_end[c->id] = now + SLICE_NS; /* it ran alone until now */
		at = slice_end[c->id] < at ? slice_end[c->id] : at;
	}
	arch_timer_arm(at == NO_DEADLINE ? 0 : time_ns_to_cycles(at));
}

static int can_block(void)
{
	return !arch_timer_available() && boot_info->loader == HERMIT_LOADER_UHYVE;
}

/* End cpu c's HC_IDLE, if it is in one (or about to be: uhyve keeps the wake-up). */
static void wake_sleeper(struct cpu *c)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* our queue change, then its flag */
	if (__atomic_load_n(&c->sleeping, __ATOMIC_SEQ_CST)) {
		struct hc_wake w = { .cpu = c->id };
		arch_hypercall(HC_WAKE, &w);
	}
}

/* Queue a runnable task on the cpu it should run on, and tell that cpu. */
void sched_add(struct task *t)
{
	uint32_t id = sched_pick_cpu(t);
	struct cpu *c = cpu_get(id), *me = this_cpu();

	t->cpu = id;
	runq_insert(&c->rq, t, 0);
	if (c == me) {
		if (c->running != c->idle && preempts(c, c->rq.head, 0))
			c->need_resched = 1; /* acted on before returning to the application */
		timer_update();
	} else if (preempts(c, t, 1)) {
		/* It halts with nothing to do, or must arm its slice timer, or give way.  An
		 * idle cpu without a timer (kvm_pvm) looks at its queue itself, or sleeps in
		 * the loader until woken: a kick there would only be delivered later, as a
		 * needless exit once it runs the task. */
		if (c->running != c->idle || arch_timer_available())
			arch_kick_cpu(id);
		else if (can_block())
			wake_sleeper(c);
	}
}

/* Wake blocked tasks whose deadline passed; note the earliest deadlines left,
 * of all tasks and of those blocked on this cpu (its timer). */
static void expire(uint64_t now)
{
	struct cpu *c = this_cpu();
	uint64_t earliest = NO_DEADLINE, mine = NO_DEADLINE;

	for (struct task *t = task_first(); t; t = t->all_next) {
		if (t->state != TASK_BLOCKED || t->deadline == NO_DEADLINE)
			continue;
		if (t->deadline <= now) {
			futex_cancel(t);
			t->timed_out = 1;
			t->deadline = NO_DEADLINE;
			t->state = TASK_RUNNABLE;
			sched_add(t);
			continue;
		}
		if (t->deadline < earliest)
			earliest = t->deadline;
		if (t->cpu == c->id && t->deadline < mine)
			mine = t->deadline;
	}
	/* The network's background work (net_background) arms every cpu's timer (the
	 * first to fire does it) but is no sleeper: idle cpus need not spin for it. */
	uint64_t net = net_background_due;
	if (net < mine)
		mine = net;
	next_deadline = earliest;
	c->deadline = mine;
	if (can_block() && earliest != NO_DEADLINE) {
		/* a cpu blocked in the loader past the new earliest wake-up: it must poll it */
		for (uint32_t id = 0; id < boot_info->cpus; id++) {
			struct cpu *s = cpu_get(id);
			if (s != c && s->sleeping && s->sleep_until + IDLE_EARLY_NS > earliest) {
				wake_sleeper(s);
				break;
			}
		}
	}
	VVAR->next_wake_tsc = earliest == NO_DEADLINE ? ~0ULL : time_ns_to_cycles(earliest);
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
	struct cpu *c = this_cpu();
	uint64_t now = time_monotonic_ns();

	if (prev != c->idle)
		prev->cpu_ns += now - prev->run_start;
	none_apply(prev); /* before another thread may touch its PROT_NONE pages */
	if (prev->state == TASK_DEAD) {
		exited_ns += prev->cpu_ns;
		c->zombie = prev;
	}
	next->run_start = now;
	next->cpu = c->id;
	slice_end[c->id] = now + SLICE_NS;
	current = next;
	timer_update();
	arch_switch_to(prev, next);
	reap();
}

/* What cpu c runs next (0: nothing), once a finished task is freed and the due
 * sleepers are woken; a pending reschedule is answered by this choice. */
static struct task *pick_next(struct cpu *c)
{
	reap();
	expire(time_monotonic_ns());
	c->need_resched = 0;
	struct task *t = runq_pop(&c->rq);
	return t ? t : sched_steal(c);
}

/* Run the next task; return when the current one is chosen again.  Called with
 * the kernel lock held, the current task blocked, dead or already queued. */
void schedule(void)
{
	struct cpu *c = this_cpu();
	struct task *prev = current, *next = pick_next(c);

	if (!next)
		next = c->idle;
	if (next != prev)
		switch_to(prev, next);
	else
		timer_update();
}

/* No timer: poll this cpu's queue and the earliest deadline without the lock (the
 * cpus at work need it for every system call); under uhyve block in between. */
static void idle_poll(struct cpu *c)
{
	uint64_t spin_end = time_monotonic_ns() + IDLE_SPIN_NS;

	while (!__atomic_load_n(&c->rq.head, __ATOMIC_RELAXED)) {
		uint64_t now = time_monotonic_ns();
		uint64_t due = __atomic_load_n(&next_deadline, __ATOMIC_RELAXED);
		uint64_t net = __atomic_load_n(&net_background_due, __ATOMIC_RELAXED);
		if (now >= due || now >= net || net_rx_pending())
			return;
		if (now < spin_end || !can_block() || due - now <= IDLE_EARLY_NS + IDLE_SPIN_NS) {
			arch_relax();
			continue;
		}
		c->sleep_until = due == NO_DEADLINE ? NO_DEADLINE - IDLE_EARLY_NS : due - IDLE_EARLY_NS;
		if (net < c->sleep_until)
			c->sleep_until = net; /* no precision needed: no early wake */
		__atomic_store_n(&c->sleeping, 1, __ATOMIC_SEQ_CST); /* then look: see wake_sleeper */
		if (!__atomic_load_n(&c->rq.head, __ATOMIC_SEQ_CST) && !net_idle_arm()) {
			struct hc_idle i = { .ns = c->sleep_until - now };
			arch_hypercall(HC_IDLE, &i);
		}
		__atomic_store_n(&c->sleeping, 0, __ATOMIC_SEQ_CST);
		spin_end = time_monotonic_ns() + IDLE_SPIN_NS;
	}
}

/* Each cpu's idle task: run what becomes runnable, halt (or poll) in between.
 * Entered with the kernel lock held, it releases the lock only while waiting. */
noreturn void idle_loop(void)
{
	struct cpu *c = this_cpu();

	for (;;) {
		net_background(); /* here, not in expire(): the driver may give up the lock */
		struct task *next = pick_next(c);
		if (next) {
			switch_to(current, next);
			continue;
		}
		timer_update();
		kernel_unlock();
		if (arch_timer_available())
			arch_idle(); /* halt until the timer or a kick; then look again */
		else
			idle_poll(c);
		kernel_lock();
	}
}

/* Give way to a queued task when it should run now; move away from a cpu the
 * task may no longer use.  On the way back to the application. */
void sched_preempt_check(void)
{
	struct cpu *c = this_cpu();
	struct task *cur = current;
	uint64_t allowed = cur->affinity & cpus_online_mask;

	c->need_resched = 0;
	if (cur == c->idle)
		return;
	if (allowed && !((allowed >> c->id) & 1)) {
		sched_migrate_current();
		return;
	}
	int slice_over = time_monotonic_ns() >= slice_end[c->id];
	if (preempts(c, c->rq.head, slice_over)) {
		/* Cut short by a higher priority it stays first in line; else it goes last. */
		runq_insert(&c->rq, cur, c->rq.head->prio > cur->prio);
		schedule();
	} else {
		timer_update();
	}
}

/* t runs on another cpu: it looks at its state again on its way back to the
 * application (at once when an IPI can reach it, else at its next system call,
 * where sched_yield's fast path, sdk/sched_yield.c, also sees need_resched). */
void sched_poke_running(struct task *t)
{
	cpu_get(t->cpu)->need_resched = 1;
	arch_kick_cpu(t->cpu);
}

/* The current thread is about to wait for the host as long as the host takes (a
 * terminal's read: forever), its cpu's interrupts masked: another cpu takes this
 * one's queue and keeps time for its sleepers meanwhile.  Without a timer idle
 * cpus poll every deadline anyway, and a queue is stolen from when they look. */
void sched_lend_cpu(void)
{
	struct cpu *c = this_cpu(), *to = 0;
	struct task *moved = 0, **end = &moved, *t;

	if (!arch_timer_available() || (c->deadline == NO_DEADLINE && !c->rq.head))
		return;
	for (uint32_t i = 1; i < boot_info->cpus; i++) {
		uint32_t id = (c->id + i) % boot_info->cpus;
		if (!((cpus_online_mask >> id) & 1))
			continue;
		if (!to || cpu_get(id)->running == cpu_get(id)->idle)
			to = cpu_get(id);
		if (to->running == to->idle)
			break;
	}
	if (!to)
		return;
	for (t = task_first(); t; t = t->all_next)
		if (t->state == TASK_BLOCKED && t->cpu == c->id)
			t->cpu = to->id; /* its expire() counts them from now on */
	c->deadline = NO_DEADLINE;
	while ((t = runq_pop(&c->rq))) { /* in their order */
		*end = t;
		end = &t->next;
	}
	while ((t = moved)) {
		moved = t->next;
		t->next = 0;
		if ((t->affinity & cpus_online_mask) >> to->id & 1) {
			t->cpu = to->id; /* not sched_add: it would count this cpu as free as any */
			runq_insert(&to->rq, t, 0);
		} else {
			sched_add(t); /* back here only if it may run nowhere else */
		}
	}
	arch_kick_cpu(to->id);
}

/* Run the current task on another cpu it may use. */
void sched_migrate_current(void)
{
	sched_add(current);
	schedule();
}

/* The timer fired or another cpu kicked this one while the application ran
 * (the idle loop looks at its queue and deadlines itself).  Kernel lock held. */
void sched_interrupt(void)
{
	expire(time_monotonic_ns());
	net_background(); /* a guest that only computes still acknowledges and resends */
	sched_preempt_check();
}

void sched_timer_at(uint64_t at)
{
	struct cpu *c = this_cpu();
	uint64_t now = time_monotonic_ns();

	if (c->deadline <= now)
		at = now; /* not computed yet, or due: expire() looks at once and keeps `at` */
	else if (at >= c->deadline)
		return;
	c->deadline = at;
	timer_update();
}

/* sched_yield: others of the same or higher priority on this cpu go first. */
void sched_yield_now(void)
{
	struct cpu *c = this_cpu();

	expire(time_monotonic_ns()); /* with no timer, sleepers wake only when looked at */
	if (!c->rq.head || c->rq.head->prio < current->prio) {
		timer_update();
		return;
	}
	runq_insert(&c->rq, current, 0);
	schedule();
}

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

/* CPU time: what a thread ran before, plus its current turn if it runs now. */
uint64_t sched_thread_cpu_ns(const struct task *t)
{
	uint64_t ns = t->cpu_ns;

	if (t->state != TASK_DEAD && cpu_get(t->cpu)->running == t)
		ns += time_monotonic_ns() - t->run_start;
	return ns;
}

uint64_t sched_process_cpu_ns(void)
{
	uint64_t ns = exited_ns;

	for (struct task *t = task_first(); t; t = t->all_next)
		if (t->state != TASK_DEAD)
			ns += sched_thread_cpu_ns(t);
	return ns;
}
