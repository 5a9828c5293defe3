/* Threads as musl's pthreads use them: clone, exit, set_tid_address, yield. */
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>

#include <hermit/syscalls.h>
#include <hermit/net.h>
#include <hermit/task.h>

/* What musl's pthread_create asks for; a new process (fork) is not possible here. */
#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD)

long sys_clone_frame(const struct syscall_frame *f)
{
	/* clone(flags, stack, parent_tid, child_tid, tls) */
	const uint64_t a[6] = { SYSCALL_ARGS(f) };
	uint64_t flags = a[0], stack = a[1], parent_tid = a[2], child_tid = a[3], tls = a[4];

	if ((flags & THREAD_FLAGS) != THREAD_FLAGS) {
		oneproc_log(SYS_clone, "clone without thread flags"); /* fork, vfork, posix_spawn */
		return -ENOSYS;
	}
	if (!stack)
		return -EINVAL;
	struct task *t = task_create();
	if (!t)
		return -EAGAIN;
	t->fs_base = (flags & CLONE_SETTLS) ? tls : current->fs_base;
	t->sigmask = current->sigmask;
	/* as on Linux, a thread starts with its creator's cpus and priority */
	t->affinity = current->affinity;
	t->policy = current->policy;
	t->prio = t->base_prio = current->base_prio; /* not a PI boost of its creator */
	t->nice = current->nice;
	t->cpu = current->cpu;
	if (flags & CLONE_CHILD_CLEARTID)
		t->clear_child_tid = child_tid;
	if (flags & CLONE_PARENT_SETTID)
		*(volatile int *)parent_tid = (int)t->tid;
	if (flags & CLONE_CHILD_SETTID)
		*(volatile int *)child_tid = (int)t->tid;
	arch_task_prepare(t, f, stack);
	sched_add(t);
	return (long)t->tid;
}

long sys_exit(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	task_exit((int)(a0 & 0xff));
}

long sys_exit_group(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	net_linger(); /* what TCP still holds reaches its peers, as after a Linux exit */
	kernel_exit((int)(a0 & 0xff));
}

long sys_gettid(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return (long)current->tid;
}

long sys_set_tid_address(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	current->clear_child_tid = (uint64_t)a0;
	return (long)current->tid;
}

long sys_sched_yield(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	sched_yield_now();
	return 0;
}
