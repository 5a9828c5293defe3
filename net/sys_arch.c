/* What lwIP needs from the kernel without threads (NO_SYS): the clock, random
 * numbers (initial sequence numbers, ports), assertions, and its heap. */
#include <stdint.h>

#include <hermit/kernel.h>

#include "lwip/sys.h"

void *net_heap; /* LWIP_RAM_HEAP_POINTER: pages taken when the stack starts */

u32_t sys_now(void)
{
	return (u32_t)(time_monotonic_ns() / 1000000ULL);
}

uint32_t net_rand(void)
{
	uint32_t r;
	random_fill(&r, sizeof(r));
	return r;
}

_Noreturn void net_assert(const char *msg, const char *file, int line)
{
	char buf[160];
	ksnprintf(buf, sizeof(buf), "lwIP assertion failed: %s (%s:%d)", msg, file, line);
	kernel_fail(buf);
}

/* netif_find() parses an interface number with atoi (the kernel has no libc). */
int atoi(const char *s)
{
	int n = 0, neg = *s == '-';

	s += neg || *s == '+';
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return neg ? -n : n;
}
