/* The kernel lock: taken on entry from the application (system call, interrupt),
 * released on the way back and while a cpu idles; held across thread switches. */
#include <hermit/task.h>

static volatile int locked;

void kernel_lock(void)
{
	while (__atomic_exchange_n(&locked, 1, __ATOMIC_ACQUIRE))
		while (locked)
			arch_relax();
}

void kernel_unlock(void)
{
	__atomic_store_n(&locked, 0, __ATOMIC_RELEASE);
}
