/* Known system calls for the trace (tests/test_strace.py): each made directly with
 * syscall(), so its arguments are exactly these whatever libc would choose.  A
 * second thread makes one call, the last is one hermit does not have.  `syscalls N`
 * makes N more getppid calls first (more than the kernel's trace ring holds). */
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile long hot_counter; /* GDB's variable (tests/test_debug.py) */

void hot_function(int n)
{
	for (int i = 0; i < n; i++)
		hot_counter += i;
}

static void *thread_main(void *arg)
{
	(void)arg;
	syscall(SYS_getppid);
	return NULL;
}

int main(int argc, char **argv)
{
	char buf[64];
	pthread_t t;

	for (long i = argc > 1 ? atol(argv[1]) : 0; i > 0; i--)
		syscall(SYS_getppid);

	long fd = syscall(SYS_openat, AT_FDCWD, "strace_probe.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	syscall(SYS_write, fd, "hello strace\n", 13);
	syscall(SYS_close, fd);
	fd = syscall(SYS_openat, AT_FDCWD, "strace_probe.txt", O_RDONLY | O_CLOEXEC);
	long n = syscall(SYS_read, fd, buf, sizeof(buf));
	syscall(SYS_close, fd);
	syscall(SYS_close, 99); /* EBADF */
	void *p = (void *)syscall(SYS_mmap, NULL, 8192, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	syscall(SYS_munmap, p, 8192);
	hot_function(10);
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);
	syscall(SYS_io_uring_setup, 1, NULL); /* ENOSYS */
	printf("read %ld bytes, counter %ld\n", n, hot_counter);
	return 0;
}
