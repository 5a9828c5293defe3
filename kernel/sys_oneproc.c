/* One process: the calls that would make or wait for a second one fail as
 * Linux's do when the resource is not there (ENOSYS for creating one, ECHILD
 * for waiting: there is never a child), each named once in the kernel log so
 * that a program that needed them says why it stopped. */
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <hermit/syscalls.h>
#include <hermit/task.h>

#define WAIT4_OPTIONS (WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL)
#define P_PIDFD_ 3

void oneproc_log(uint64_t nr, const char *what)
{
	if (syscall_first_time(nr))
		kprintf("hermit: %s: one process per guest (use threads or several guests), "
			"returning -ENOSYS\n", what);
}

#define NO_PROCESS(name)                                  \
	long sys_##name(SYSCALL_PARAMS)                   \
	{                                                 \
		UNUSED_ARGS();                            \
		oneproc_log(SYS_##name, #name);           \
		return -ENOSYS;                           \
	}
NO_PROCESS(fork)
NO_PROCESS(vfork)
NO_PROCESS(execve)
NO_PROCESS(execveat)

static void no_children(uint64_t nr, const char *what)
{
	if (syscall_first_time(nr))
		kprintf("hermit: %s: one process per guest, no children: -ECHILD\n", what);
}

long sys_wait4(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	if (a2 & ~(long)WAIT4_OPTIONS)
		return -EINVAL;
	no_children(SYS_wait4, "wait4");
	return -ECHILD;
}

long sys_waitid(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int opts = (int)a3;
	if ((unsigned long)a0 > P_PIDFD_ || !(opts & (WEXITED | WSTOPPED | WCONTINUED)) ||
	    (opts & ~(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | __WNOTHREAD |
		      __WCLONE | __WALL)))
		return -EINVAL;
	no_children(SYS_waitid, "waitid");
	return -ECHILD;
}
