/* Threads: creation, the table of live ones, exit. */
#include <hermit/net.h>
#include <hermit/task.h>

#include "sigqueue.h"

static struct task main_task;
static struct task *all = &main_task;
static uint64_t next_tid = 1, live;

/* The boot thread becomes the application's main thread. */
void task_init(void)
{
	main_task.tid = next_tid++;
	main_task.state = TASK_RUNNABLE;
	main_task.deadline = NO_DEADLINE;
	main_task.affinity = ~0ULL;
	main_task.run_start = time_monotonic_ns();
	main_task.fpu = (void *)page_alloc(ALIGN_UP(arch_fpu_size(), PAGE_SIZE) / PAGE_SIZE, 1);
	arch_task_init_main(&main_task);
	current = &main_task;
	live = 1;
	this_cpu()->idle = task_create_idle();
	arch_task_prepare_idle(this_cpu()->idle);
}

struct task *task_first(void)
{
	return all;
}

/* A thread with its own kernel stack and FPU area; the caller fills in the rest. */
struct task *task_create(void)
{
	uint64_t fpu_bytes = ALIGN_UP(arch_fpu_size(), PAGE_SIZE);
	uint64_t bytes = PAGE_SIZE + fpu_bytes + KSTACK_SIZE;
	uint64_t mem = page_alloc(bytes / PAGE_SIZE, 1);

	if (!mem || live >= MAX_TASKS) {
		if (mem)
			page_free(mem, bytes / PAGE_SIZE);
		return 0;
	}
	struct task *t = (struct task *)mem;
	t->pages = mem;
	t->npages = bytes / PAGE_SIZE;
	t->fpu = (void *)(mem + PAGE_SIZE);
	t->kstack_top = mem + bytes;
	t->tid = next_tid++;
	t->state = TASK_RUNNABLE;
	t->deadline = NO_DEADLINE;
	t->affinity = ~0ULL;
	t->all_next = all;
	all = t;
	live++;
	return t;
}

/* A cpu's idle task: a kernel stack and FPU area, no thread id, not in the table. */
struct task *task_create_idle(void)
{
	uint64_t fpu_bytes = ALIGN_UP(arch_fpu_size(), PAGE_SIZE);
	uint64_t bytes = PAGE_SIZE + fpu_bytes + KSTACK_SIZE;
	struct task *t = (struct task *)page_alloc(bytes / PAGE_SIZE, 1);

	if (!t) {
		kernel_fail("hermit: no memory for an idle task: raise HERMIT_MEM\n");
	}
	t->fpu = (void *)((uint64_t)t + PAGE_SIZE);
	t->kstack_top = (uint64_t)t + bytes;
	t->state = TASK_RUNNABLE;
	t->deadline = NO_DEADLINE;
	t->prio = -1; /* below every thread: never queued, never preempts */
	return t;
}

void task_free(struct task *t)
{
	for (struct task **p = &all; *p; p = &(*p)->all_next)
		if (*p == t) {
			*p = t->all_next;
			break;
		}
	if (t->pages)
		page_free(t->pages, t->npages);
}

struct task *task_by_tid(uint64_t tid)
{
	for (struct task *t = all; t; t = t->all_next)
		if (t->tid == tid && t->state != TASK_DEAD)
			return t;
	return 0;
}

uint64_t task_count(void)
{
	return live;
}

/* The calling thread ends; the last one to go ends the process with its status. */
noreturn void task_exit(int code)
{
	robust_exit(current);
	futex_pi_exit(current);
	sigq_drop(current);
	if (current->clear_child_tid) {
		*(volatile uint32_t *)current->clear_child_tid = 0;
		futex_wake((uint64_t *)current->clear_child_tid, 1, ~0u);
	}
	if (--live == 0) {
		net_linger(); /* as exit_group */
		kernel_exit(code);
	}
	current->state = TASK_DEAD;
	schedule();
	for (;;)
		arch_halt(); /* not reached: a dead task is never scheduled again */
}
