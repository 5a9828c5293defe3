/*
 * Scheduling system calls, per thread as on Linux (pid 0 is the caller, any
 * other is a thread id): cpu affinity, policy and real-time priority, nice.
 */
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define RT_PRIO_MAX 99

static struct task *thread(long pid)
{
	if (pid < 0)
		return 0;
	return pid == 0 ? current : task_by_tid((uint64_t)pid);
}

/* After a change to t's affinity or priority: make its place in line right. */
void sched_requeue(struct task *t)
{
	if (t == current) {
		sched_preempt_check();
		return;
	}
	if (t->state != TASK_RUNNABLE)
		return; /* it blocks: it is placed when it wakes */
	struct cpu *c = cpu_get(t->cpu);
	if (runq_remove(&c->rq, t))
		sched_add(t);
	else if (c->running == t)
		sched_poke_running(t); /* its new affinity or priority takes effect there */
}

long sys_sched_getaffinity(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = thread(a0);

	if (!t)
		return -ESRCH;
	if (a1 < 8 || (a1 & 7))
		return -EINVAL;
	*(uint64_t *)a2 = t->affinity & cpus_online_mask;
	return 8; /* bytes written: musl clears the rest */
}

long sys_sched_setaffinity(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = thread(a0);
	uint64_t mask = 0;

	if (!t)
		return -ESRCH;
	memcpy(&mask, (const void *)a2, a1 < 8 ? (size_t)a1 : 8);
	if (!(mask & cpus_online_mask))
		return -EINVAL;
	t->affinity = mask;
	sched_requeue(t);
	return 0;
}

static int valid_param(int policy, long prio)
{
	switch (policy) {
	case SCHED_FIFO:
	case SCHED_RR:
		return prio >= 1 && prio <= RT_PRIO_MAX;
	case SCHED_OTHER:
	case SCHED_BATCH:
	case SCHED_IDLE:
		return prio == 0;
	default:
		return 0;
	}
}

static long set_scheduler(long pid, int policy, const struct sched_param *p)
{
	struct task *t = thread(pid);

	if (!p)
		return -EINVAL;
	if (!t)
		return -ESRCH;
	policy &= ~SCHED_RESET_ON_FORK;
	if (policy < 0)
		policy = t->policy; /* sched_setparam */
	if (!valid_param(policy, p->sched_priority))
		return -EINVAL;
	t->policy = policy;
	t->base_prio = p->sched_priority;
	futex_pi_update(t); /* its effective priority, and its PI lock owner's */
	sched_requeue(t);
	return 0;
}

long sys_sched_setscheduler(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a1 < 0)
		return -EINVAL;
	return set_scheduler(a0, (int)a1, (const struct sched_param *)a2);
}

long sys_sched_setparam(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return set_scheduler(a0, -1, (const struct sched_param *)a1);
}

long sys_sched_getscheduler(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = thread(a0);
	return t ? t->policy : -ESRCH;
}

long sys_sched_getparam(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = thread(a0);

	if (!a1)
		return -EINVAL;
	if (!t)
		return -ESRCH;
	((struct sched_param *)a1)->sched_priority = t->base_prio; /* not a PI boost */
	return 0;
}

long sys_sched_get_priority_max(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return a0 == SCHED_FIFO || a0 == SCHED_RR ? RT_PRIO_MAX : valid_param((int)a0, 0) ? 0 : -EINVAL;
}

long sys_sched_get_priority_min(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return a0 == SCHED_FIFO || a0 == SCHED_RR ? 1 : valid_param((int)a0, 0) ? 0 : -EINVAL;
}

long sys_sched_rr_get_interval(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = thread(a0);

	if (!t)
		return -ESRCH;
	/* FIFO threads have no slice */
	*(struct timespec *)a1 = (struct timespec){ 0, t->policy == SCHED_FIFO ? 0 : (long)SLICE_NS };
	return 0;
}

/* Nice values are kept and reported; the fair share among SCHED_OTHER threads is equal. */
static struct task *nice_target(long which, long who)
{
	if (which == PRIO_PROCESS && (who == 0 || who == HERMIT_APP_PID))
		return current; /* the process: the main thread's value stands for it */
	if (which == PRIO_PROCESS)
		return task_by_tid((uint64_t)who);
	if ((which == PRIO_PGRP || which == PRIO_USER) && who == 0)
		return current;
	return 0;
}

long sys_getpriority(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = nice_target(a0, a1);
	if (a0 < PRIO_PROCESS || a0 > PRIO_USER)
		return -EINVAL;
	return t ? 20 - t->nice : -ESRCH; /* the kernel's form: musl turns it back */
}

long sys_setpriority(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct task *t = nice_target(a0, a1);
	if (a0 < PRIO_PROCESS || a0 > PRIO_USER)
		return -EINVAL;
	if (!t)
		return -ESRCH;
	t->nice = a2 < -20 ? -20 : a2 > 19 ? 19 : (int)a2;
	return 0;
}

long sys_getcpu(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a0)
		*(unsigned *)a0 = this_cpu()->id;
	if (a1)
		*(unsigned *)a1 = 0; /* one NUMA node */
	return 0;
}
