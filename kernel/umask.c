/* The guest's umask: the kernel applies it to the modes of the files and directories
 * the loader creates (the loader's own umask applies on the host as well), so a
 * program that sets umask(077) before writing a secret gets a private file. */
#include <fcntl.h>
#include <sys/syscall.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

static long file_umask = 022; /* Linux's default for a process started by a shell */

long umask_mode(long mode)
{
	return mode & ~file_umask & 07777;
}

long sys_umask(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	long old = file_umask;

	file_umask = a0 & 0777;
	return old;
}

long sys_mkdir(SYSCALL_PARAMS)
{
	long a[6] = { a0, umask_mode(a1), a2, a3, a4, a5 };
	return fd_forward(SYS_mkdir, a, 0);
}

long sys_mkdirat(SYSCALL_PARAMS)
{
	long a[6] = { a0, a1, umask_mode(a2), a3, a4, a5 };
	return fd_forward(SYS_mkdirat, a, 0);
}
