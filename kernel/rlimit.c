/* Resource limits, honoured as Linux honours them within one process:
 * RLIMIT_NOFILE caps the fds (kernel/fd.c), RLIMIT_AS and RLIMIT_DATA the
 * application's memory (mm/vma.c: mmap, brk, mremap), RLIMIT_STACK is the main
 * stack's size.  The others are kept and reported; nothing here enforces them. */
#include <errno.h>
#include <sys/resource.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

static struct rlimit limits[RLIM_NLIMITS];
static int ready;

static void init(void)
{
	for (int i = 0; i < RLIM_NLIMITS; i++)
		limits[i].rlim_cur = limits[i].rlim_max = RLIM_INFINITY;
	limits[RLIMIT_STACK].rlim_cur = 8 << 20;
	limits[RLIMIT_NOFILE].rlim_cur = FD_SOFT_MAX;
	limits[RLIMIT_NOFILE].rlim_max = FD_MAX;
	limits[RLIMIT_CORE].rlim_cur = 0;
	ready = 1;
}

uint64_t rlimit_cur(int res)
{
	if (!ready)
		init();
	return limits[res].rlim_cur;
}

long sys_prlimit64(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	const struct rlimit *new = (const struct rlimit *)a2;
	struct rlimit *old = (struct rlimit *)a3, want;

	if (a0 && a0 != HERMIT_APP_PID)
		return -ESRCH;
	if (a1 < 0 || a1 >= RLIM_NLIMITS)
		return -EINVAL;
	if (!ready)
		init();
	if (new) {
		if (!user_ok((uint64_t)new, sizeof(*new)))
			return -EFAULT;
		want = *new;
		if (want.rlim_cur > want.rlim_max)
			return -EINVAL;
		if (a1 == RLIMIT_NOFILE && want.rlim_max > FD_MAX)
			return -EPERM; /* Linux: above fs.nr_open (here the fd table's size) */
	}
	if (old) {
		if (!user_ok((uint64_t)old, sizeof(*old)))
			return -EFAULT;
		*old = limits[a1];
	}
	if (new)
		limits[a1] = want; /* the guest's only user is root: it may raise a hard limit */
	return 0;
}

long sys_getrlimit(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return sys_prlimit64(0, a0, 0, a1, 0, 0);
}

long sys_setrlimit(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return sys_prlimit64(0, a0, a1, 0, 0, 0);
}
