/* The process: identity, limits, TLS, signals to itself, and exit. */
#include <errno.h>
#include <signal.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003

long sys_arch_prctl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	switch (a0) {
	case ARCH_SET_FS:
		current->fs_base = (uint64_t)a1;
		arch_set_tls((uint64_t)a1);
		return 0;
	case ARCH_GET_FS:
		*(uint64_t *)a1 = current->fs_base;
		return 0;
	default:
		return -EINVAL;
	}
}

long sys_getpid(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return HERMIT_APP_PID;
}

static void copy_field(char *dst, const char *src)
{
	memcpy(dst, src, strlen(src) + 1);
}

long sys_uname(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct utsname *u = (struct utsname *)a0;
	memset(u, 0, sizeof(*u));
	copy_field(u->sysname, "Hermit");
	copy_field(u->nodename, "hermit");
	copy_field(u->release, "0.1.0");
	copy_field(u->version, "#1 hermit unikernel");
	copy_field(u->machine, ARCH_MACHINE);
	copy_field(u->domainname, "(none)");
	return 0;
}

long sys_sysinfo(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct sysinfo *s = (struct sysinfo *)a0;
	memset(s, 0, sizeof(*s));
	s->uptime = (long)(time_monotonic_ns() / 1000000000ULL);
	s->totalram = ram_total();
	s->freeram = page_free_count() * PAGE_SIZE;
	s->procs = 1;
	s->mem_unit = 1;
	return 0;
}

long sys_getrandom(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	random_fill((void *)a0, (size_t)a1);
	return a1;
}
