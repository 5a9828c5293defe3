/* System call implementations, by file.  All take the six raw argument registers. */
#ifndef HERMIT_SYSCALLS_H
#define HERMIT_SYSCALLS_H

#include <stdint.h>

#define SYSCALL_PARAMS long a0, long a1, long a2, long a3, long a4, long a5
#define UNUSED_ARGS(...) ((void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5)
typedef long (*syscall_fn)(SYSCALL_PARAMS);
#define NR_SYSCALLS 512


/* kernel/syscall.c */
long sys_zero(SYSCALL_PARAMS);
int syscall_first_time(uint64_t nr); /* 1 once per call number: log it then */

/* kernel/sys_oneproc.c: the calls of a second process */
long sys_fork(SYSCALL_PARAMS);
long sys_vfork(SYSCALL_PARAMS);
long sys_execve(SYSCALL_PARAMS);
long sys_execveat(SYSCALL_PARAMS);
long sys_wait4(SYSCALL_PARAMS);
long sys_waitid(SYSCALL_PARAMS);
void oneproc_log(uint64_t nr, const char *what); /* once per call number */

/* kernel/sys_host.c: file system calls carried out by the loader */
int syscall_forwarded(uint64_t nr);

/* kernel/fd.c: the fd table (include/hermit/fd.h) */
long sys_open(SYSCALL_PARAMS);
long sys_openat(SYSCALL_PARAMS);
long sys_close(SYSCALL_PARAMS);
long sys_close_range(SYSCALL_PARAMS);
long sys_umask(SYSCALL_PARAMS);
long sys_fadvise64(SYSCALL_PARAMS);
long sys_readahead(SYSCALL_PARAMS);
long sys_mkdir(SYSCALL_PARAMS);
long sys_mkdirat(SYSCALL_PARAMS);
long sys_dup(SYSCALL_PARAMS);
long sys_dup2(SYSCALL_PARAMS);
long sys_dup3(SYSCALL_PARAMS);
long sys_fcntl(SYSCALL_PARAMS);

/* kernel/poll.c, epoll.c, pipe.c, eventfd.c: the kernel's own files and their waits */
long sys_poll(SYSCALL_PARAMS);
long sys_ppoll(SYSCALL_PARAMS);
long sys_select(SYSCALL_PARAMS);
long sys_pselect6(SYSCALL_PARAMS);
long sys_epoll_create(SYSCALL_PARAMS);
long sys_epoll_create1(SYSCALL_PARAMS);
long sys_epoll_ctl(SYSCALL_PARAMS);
long sys_epoll_wait(SYSCALL_PARAMS);
long sys_epoll_pwait(SYSCALL_PARAMS);
long sys_pipe(SYSCALL_PARAMS);
long sys_pipe2(SYSCALL_PARAMS);
long sys_eventfd(SYSCALL_PARAMS);
long sys_eventfd2(SYSCALL_PARAMS);

/* kernel/socket.c: the socket calls (include/hermit/net.h) */
long sys_socket(SYSCALL_PARAMS);
long sys_socketpair(SYSCALL_PARAMS);
long sys_bind(SYSCALL_PARAMS);
long sys_listen(SYSCALL_PARAMS);
long sys_accept(SYSCALL_PARAMS);
long sys_accept4(SYSCALL_PARAMS);
long sys_connect(SYSCALL_PARAMS);
long sys_sendto(SYSCALL_PARAMS);
long sys_recvfrom(SYSCALL_PARAMS);
long sys_sendmsg(SYSCALL_PARAMS);
long sys_recvmsg(SYSCALL_PARAMS);
long sys_shutdown(SYSCALL_PARAMS);
long sys_getsockname(SYSCALL_PARAMS);
long sys_getpeername(SYSCALL_PARAMS);
long sys_setsockopt(SYSCALL_PARAMS);
long sys_getsockopt(SYSCALL_PARAMS);

/* kernel/sys_mem.c */
long sys_brk(SYSCALL_PARAMS);
long sys_mmap(SYSCALL_PARAMS);
long sys_munmap(SYSCALL_PARAMS);
long sys_mprotect(SYSCALL_PARAMS);
long sys_mremap(SYSCALL_PARAMS);
long sys_msync(SYSCALL_PARAMS); /* kernel/shmap.c */

/* kernel/sys_thread.c */
struct syscall_frame;
long sys_clone_frame(const struct syscall_frame *f);
long sys_exit(SYSCALL_PARAMS);
long sys_exit_group(SYSCALL_PARAMS);
long sys_gettid(SYSCALL_PARAMS);
long sys_set_tid_address(SYSCALL_PARAMS);
long sys_sched_yield(SYSCALL_PARAMS);

/* kernel/futex.c */
long sys_futex(SYSCALL_PARAMS);

/* kernel/ipc_msg.c, ipc_sem.c, ipc_shm.c: System V IPC */
long sys_msgget(SYSCALL_PARAMS);
long sys_msgsnd(SYSCALL_PARAMS);
long sys_msgrcv(SYSCALL_PARAMS);
long sys_msgctl(SYSCALL_PARAMS);
long sys_semget(SYSCALL_PARAMS);
long sys_semop(SYSCALL_PARAMS);
long sys_semtimedop(SYSCALL_PARAMS);
long sys_semctl(SYSCALL_PARAMS);
long sys_shmget(SYSCALL_PARAMS);
long sys_shmat(SYSCALL_PARAMS);
long sys_shmdt(SYSCALL_PARAMS);
long sys_shmctl(SYSCALL_PARAMS);

/* kernel/robust.c */
long sys_set_robust_list(SYSCALL_PARAMS);
long sys_get_robust_list(SYSCALL_PARAMS);

/* kernel/sys_proc.c */
long sys_arch_prctl(SYSCALL_PARAMS);
long sys_getpid(SYSCALL_PARAMS);
long sys_uname(SYSCALL_PARAMS);
long sys_sysinfo(SYSCALL_PARAMS);
long sys_getrandom(SYSCALL_PARAMS);

/* kernel/rlimit.c */
long sys_prlimit64(SYSCALL_PARAMS);
long sys_getrlimit(SYSCALL_PARAMS);
long sys_setrlimit(SYSCALL_PARAMS);

/* kernel/sys_sched.c */
long sys_sched_getaffinity(SYSCALL_PARAMS);
long sys_sched_setaffinity(SYSCALL_PARAMS);
long sys_sched_setscheduler(SYSCALL_PARAMS);
long sys_sched_getscheduler(SYSCALL_PARAMS);
long sys_sched_setparam(SYSCALL_PARAMS);
long sys_sched_getparam(SYSCALL_PARAMS);
long sys_sched_get_priority_max(SYSCALL_PARAMS);
long sys_sched_get_priority_min(SYSCALL_PARAMS);
long sys_sched_rr_get_interval(SYSCALL_PARAMS);
long sys_getpriority(SYSCALL_PARAMS);
long sys_setpriority(SYSCALL_PARAMS);
long sys_getcpu(SYSCALL_PARAMS);

/* kernel/signal.c */
long sys_rt_sigaction(SYSCALL_PARAMS);
long sys_rt_sigprocmask(SYSCALL_PARAMS);
long sys_rt_sigpending(SYSCALL_PARAMS);
long sys_sigaltstack(SYSCALL_PARAMS);
long sys_kill(SYSCALL_PARAMS);
long sys_tkill(SYSCALL_PARAMS);
long sys_tgkill(SYSCALL_PARAMS);
long sys_rt_sigqueueinfo(SYSCALL_PARAMS);
long sys_rt_tgsigqueueinfo(SYSCALL_PARAMS);
long sys_rt_sigtimedwait(SYSCALL_PARAMS);

/* kernel/sys_time.c */
long sys_clock_gettime(SYSCALL_PARAMS);
long sys_clock_getres(SYSCALL_PARAMS);
long sys_gettimeofday(SYSCALL_PARAMS);
long sys_time(SYSCALL_PARAMS);
long sys_nanosleep(SYSCALL_PARAMS);
long sys_clock_nanosleep(SYSCALL_PARAMS);
long sys_getrusage(SYSCALL_PARAMS);
long sys_times(SYSCALL_PARAMS);

#endif
