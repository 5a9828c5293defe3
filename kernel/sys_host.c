/* File system calls are carried out by the loader on the host (HC_SYSCALL):
 * the number and arguments travel unchanged, pointers as guest-physical
 * addresses (memory is identity-mapped), which the loader checks. */
#include <sys/syscall.h>

#include <hermit/arch.h>
#include <hermit/syscalls.h>

/* The list is hermit_build/abi/spec.py's FORWARDED, shared with the loader. */
#define FORWARD(name, nr, fdmask) [nr] = 1,
static const uint8_t forwarded[NR_SYSCALLS] = { HERMIT_FORWARDED(FORWARD) };
#undef FORWARD
#define SAME_NR(name, nr, fdmask) _Static_assert(SYS_##name == nr, "spec.py: " #name);
HERMIT_FORWARDED(SAME_NR)
#undef SAME_NR

int syscall_forwarded(uint64_t nr)
{
	return nr < NR_SYSCALLS && forwarded[nr];
}

long host_syscall(uint64_t nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	struct hc_syscall c = { .nr = nr, .a0 = (uint64_t)a0, .a1 = (uint64_t)a1,
				.a2 = (uint64_t)a2, .a3 = (uint64_t)a3, .a4 = (uint64_t)a4,
				.a5 = (uint64_t)a5 };

	arch_hypercall(HC_SYSCALL, &c);
	return (long)c.ret;
}
