/*
 * Per-cpu run queues: where a runnable task goes (the waking cpu when that one is
 * idle and the task's own sleeps in the loader; else its last cpu while that one
 * is free, else a free cpu, else the least loaded one it may use) and what an
 * idle cpu takes from busy ones.  All of it runs under the kernel lock.
 */
#include <hermit/arch.h>
#include <hermit/task.h>

void runq_insert(struct runq *q, struct task *t, int at_head)
{
	struct task **p = &q->head;

	if (!at_head && q->tail && q->tail->prio >= t->prio)
		p = &q->tail->next; /* the common case: append */
	else /* before the first task of lower priority (or of the same, at_head) */
		while (*p && ((*p)->prio > t->prio || (!at_head && (*p)->prio == t->prio)))
			p = &(*p)->next;
	t->next = *p;
	*p = t;
	if (!t->next)
		q->tail = t;
	q->len++;
}

struct task *runq_pop(struct runq *q)
{
	struct task *t = q->head;

	if (t) {
		q->head = t->next;
		if (!q->head)
			q->tail = 0;
		t->next = 0;
		q->len--;
	}
	return t;
}

/* 1 when t was queued in q and is taken out. */
int runq_remove(struct runq *q, struct task *t)
{
	struct task *prev = 0;

	for (struct task **p = &q->head; *p; prev = *p, p = &(*p)->next) {
		if (*p != t)
			continue;
		*p = t->next;
		if (q->tail == t)
			q->tail = prev;
		t->next = 0;
		q->len--;
		return 1;
	}
	return 0;
}

static uint64_t allowed(const struct task *t)
{
	uint64_t m = t->affinity & cpus_online_mask;
	return m ? m : 1; /* cpu 0 is always online */
}

static int is_free(const struct cpu *c)
{
	return c->running == c->idle && !c->rq.len;
}

static uint32_t load(const struct cpu *c)
{
	return c->rq.len + (c->running != c->idle);
}

uint32_t sched_pick_cpu(const struct task *t)
{
	uint64_t ok = allowed(t);
	uint32_t n = boot_info->cpus, best = t->cpu, best_load = ~0u;
	struct cpu *me = this_cpu();

	/* Woken by an idle cpu (its idle loop: the network, expired timers) while its
	 * own cpu sleeps in the loader: it runs here.  Waking that cpu costs a VM exit
	 * on each side (HC_WAKE, the end of its HC_IDLE; ~100 us on some kvm_pvm hosts)
	 * and this one has nothing else to do; the next wake-up finds it busy. */
	if (t->cpu != me->id && ((ok >> me->id) & 1) && is_free(me) &&
	    __atomic_load_n(&cpu_get(t->cpu)->sleeping, __ATOMIC_RELAXED))
		return me->id;
	if ((ok >> t->cpu) & 1) {
		if (is_free(cpu_get(t->cpu)))
			return t->cpu;
		best_load = load(cpu_get(t->cpu));
	}
	/* Look from the next cpu on so that new threads spread out in turn. */
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t id = (t->cpu + i) % n;
		if (!((ok >> id) & 1))
			continue;
		struct cpu *c = cpu_get(id);
		if (is_free(c))
			return id;
		if (load(c) < best_load) {
			best = id;
			best_load = load(c);
		}
	}
	return best;
}

/* A task for the idle cpu `me` from another cpu's queue, the next cpu first. */
struct task *sched_steal(struct cpu *me)
{
	uint32_t n = boot_info->cpus;

	for (uint32_t i = 1; i < n; i++) {
		uint32_t id = (me->id + i) % n;
		if (!((cpus_online_mask >> id) & 1))
			continue;
		struct cpu *c = cpu_get(id);
		for (struct task *t = c->rq.head; t; t = t->next) {
			if ((allowed(t) >> me->id) & 1) {
				runq_remove(&c->rq, t);
				t->cpu = me->id;
				return t;
			}
		}
	}
	return 0;
}
