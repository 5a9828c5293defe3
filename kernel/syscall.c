/* The Linux x86_64 system call table.  Unknown calls return -ENOSYS and are logged once. */
#include <errno.h>
#include <sys/syscall.h>

#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>
#include <hermit/trace.h>

static const syscall_fn table[NR_SYSCALLS] = {
	[SYS_brk] = sys_brk,
	[SYS_mmap] = sys_mmap,
	[SYS_munmap] = sys_munmap,
	[SYS_mprotect] = sys_mprotect,
	[SYS_madvise] = sys_zero,
	[SYS_mremap] = sys_mremap,
	[SYS_msync] = sys_msync,
	[SYS_exit] = sys_exit,
	[SYS_exit_group] = sys_exit_group,
	[SYS_futex] = sys_futex,
	[SYS_arch_prctl] = sys_arch_prctl,
	[SYS_set_tid_address] = sys_set_tid_address,
	[SYS_set_robust_list] = sys_set_robust_list,
	[SYS_get_robust_list] = sys_get_robust_list,
	[SYS_getpid] = sys_getpid,
	[SYS_gettid] = sys_gettid,
	[SYS_getppid] = sys_zero,
	[SYS_getuid] = sys_zero,
	[SYS_geteuid] = sys_zero,
	[SYS_getgid] = sys_zero,
	[SYS_getegid] = sys_zero,
	[SYS_uname] = sys_uname,
	[SYS_sysinfo] = sys_sysinfo,
	[SYS_prlimit64] = sys_prlimit64,
	[SYS_getrlimit] = sys_getrlimit,
	[SYS_setrlimit] = sys_setrlimit,
	[SYS_clock_gettime] = sys_clock_gettime,
	[SYS_clock_getres] = sys_clock_getres,
	[SYS_gettimeofday] = sys_gettimeofday,
	[SYS_time] = sys_time,
	[SYS_nanosleep] = sys_nanosleep,
	[SYS_clock_nanosleep] = sys_clock_nanosleep,
	[SYS_sched_yield] = sys_sched_yield,
	[SYS_sched_getaffinity] = sys_sched_getaffinity,
	[SYS_sched_setaffinity] = sys_sched_setaffinity,
	[SYS_sched_setscheduler] = sys_sched_setscheduler,
	[SYS_sched_getscheduler] = sys_sched_getscheduler,
	[SYS_sched_setparam] = sys_sched_setparam,
	[SYS_sched_getparam] = sys_sched_getparam,
	[SYS_sched_get_priority_max] = sys_sched_get_priority_max,
	[SYS_sched_get_priority_min] = sys_sched_get_priority_min,
	[SYS_sched_rr_get_interval] = sys_sched_rr_get_interval,
	[SYS_getpriority] = sys_getpriority,
	[SYS_setpriority] = sys_setpriority,
	[SYS_getcpu] = sys_getcpu,
	[SYS_getrusage] = sys_getrusage,
	[SYS_times] = sys_times,
	[SYS_getrandom] = sys_getrandom,
	[SYS_rt_sigaction] = sys_rt_sigaction,
	[SYS_rt_sigprocmask] = sys_rt_sigprocmask,
	[SYS_rt_sigpending] = sys_rt_sigpending,
	[SYS_sigaltstack] = sys_sigaltstack,
	[SYS_kill] = sys_kill,
	[SYS_tkill] = sys_tkill,
	[SYS_tgkill] = sys_tgkill,
	[SYS_rt_sigqueueinfo] = sys_rt_sigqueueinfo,
	[SYS_rt_tgsigqueueinfo] = sys_rt_tgsigqueueinfo,
	[SYS_rt_sigtimedwait] = sys_rt_sigtimedwait,
	[SYS_open] = sys_open,
	[SYS_openat] = sys_openat,
	[SYS_close] = sys_close,
	[SYS_close_range] = sys_close_range,
	[SYS_umask] = sys_umask,
	[SYS_fadvise64] = sys_fadvise64,
	[SYS_readahead] = sys_readahead,
	[SYS_mkdir] = sys_mkdir, /* forwarded with the umask applied (kernel/umask.c) */
	[SYS_mkdirat] = sys_mkdirat,
	[SYS_dup] = sys_dup,
	[SYS_dup2] = sys_dup2,
	[SYS_dup3] = sys_dup3,
	[SYS_fcntl] = sys_fcntl,
	[SYS_fork] = sys_fork,
	[SYS_vfork] = sys_vfork,
	[SYS_execve] = sys_execve,
	[SYS_execveat] = sys_execveat,
	[SYS_wait4] = sys_wait4,
	[SYS_waitid] = sys_waitid,
	[SYS_msgget] = sys_msgget,
	[SYS_msgsnd] = sys_msgsnd,
	[SYS_msgrcv] = sys_msgrcv,
	[SYS_msgctl] = sys_msgctl,
	[SYS_semget] = sys_semget,
	[SYS_semop] = sys_semop,
	[SYS_semtimedop] = sys_semtimedop,
	[SYS_semctl] = sys_semctl,
	[SYS_shmget] = sys_shmget,
	[SYS_shmat] = sys_shmat,
	[SYS_shmdt] = sys_shmdt,
	[SYS_shmctl] = sys_shmctl,
	/* the kernel's own files and their one wait; sockets (kernel/socket.c, net/) */
	[SYS_poll] = sys_poll,
	[SYS_ppoll] = sys_ppoll,
	[SYS_select] = sys_select,
	[SYS_pselect6] = sys_pselect6,
	[SYS_epoll_create] = sys_epoll_create,
	[SYS_epoll_create1] = sys_epoll_create1,
	[SYS_epoll_ctl] = sys_epoll_ctl,
	[SYS_epoll_wait] = sys_epoll_wait,
	[SYS_epoll_pwait] = sys_epoll_pwait,
	[SYS_pipe] = sys_pipe,
	[SYS_pipe2] = sys_pipe2,
	[SYS_eventfd] = sys_eventfd,
	[SYS_eventfd2] = sys_eventfd2,
	[SYS_socket] = sys_socket,
	[SYS_socketpair] = sys_socketpair,
	[SYS_bind] = sys_bind,
	[SYS_listen] = sys_listen,
	[SYS_accept] = sys_accept,
	[SYS_accept4] = sys_accept4,
	[SYS_connect] = sys_connect,
	[SYS_sendto] = sys_sendto,
	[SYS_recvfrom] = sys_recvfrom,
	[SYS_sendmsg] = sys_sendmsg,
	[SYS_recvmsg] = sys_recvmsg,
	[SYS_shutdown] = sys_shutdown,
	[SYS_getsockname] = sys_getsockname,
	[SYS_getpeername] = sys_getpeername,
	[SYS_setsockopt] = sys_setsockopt,
	[SYS_getsockopt] = sys_getsockopt,
};

static uint64_t reported[NR_SYSCALLS / 64];

static void call(struct syscall_frame *f, uint64_t nr);

static void run(struct syscall_frame *f, uint64_t nr)
{
	if (nr == SYS_clone) /* needs the whole frame: the child resumes from a copy */
		SYSCALL_RET(f, sys_clone_frame(f));
	else if (nr == SYS_rt_sigreturn)
		SYSCALL_RET(f, sys_rt_sigreturn_frame(f));
	else
		call(f, nr);
}

/* HERMIT_STRACE: the call between two records (kernel/trace.c); out of line, so
 * the untraced path keeps no trace_call on its stack. */
static __attribute__((noinline)) void run_traced(struct syscall_frame *f, uint64_t nr)
{
	struct trace_call tc;
	long a[6] = { SYSCALL_ARGS(f) };

	trace_begin(&tc, nr, a);
	run(f, nr);
	trace_end(&tc, SYSCALL_RESULT(f));
}

void syscall_dispatch(struct syscall_frame *f)
{
	uint64_t nr = SYSCALL_NR(f);

	kernel_lock();
	if (current->none_pages && nr != SYS_mprotect)
		none_apply(current); /* a PROT_NONE mapping takes effect (kernel/prot_none.c) */
	if (TRACE_ON())
		run_traced(f, nr);
	else
		run(f, nr);
	if (this_cpu()->need_resched)
		sched_preempt_check(); /* it woke a task that goes first */
	signal_deliver(f);
	if (current->full_ctx)
		arch_return_full(f); /* a signal handler interrupted anywhere returns */
	kernel_unlock();
}

static void call(struct syscall_frame *f, uint64_t nr)
{
	if (nr < NR_SYSCALLS && table[nr]) {
		SYSCALL_RET(f, table[nr](SYSCALL_ARGS(f)));
		return;
	}
	if (syscall_forwarded(nr)) {
		long a[6] = { SYSCALL_ARGS(f) };
		SYSCALL_RET(f, fd_forward(nr, a, 0));
		return;
	}
	if (syscall_first_time(nr))
		kprintf("hermit: unsupported system call %lu, returning -ENOSYS\n", (unsigned long)nr);
	SYSCALL_RET(f, -ENOSYS);
}

int syscall_first_time(uint64_t nr)
{
	if (nr >= NR_SYSCALLS)
		return 1;
	if (reported[nr / 64] & (1ULL << (nr % 64)))
		return 0;
	reported[nr / 64] |= 1ULL << (nr % 64);
	return 1;
}

long sys_zero(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return 0;
}
