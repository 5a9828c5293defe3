/* Run statistics (HERMIT_STATS): host calls by kind with the time they took and
 * whether each needed a VM exit or doorbell, and the most RAM in use at once; the
 * loader reads them at exit (hermit_build/stats.py).  Host calls run without the
 * kernel lock and on several cpus at once: the counters are atomic. */
#include <hermit/arch.h>
#include <hermit/trace.h>

static struct hc_stat table[HERMIT_STATS_SLOTS];

int stats_hypercall(unsigned nr, void *arg, int (*call)(unsigned nr, void *arg))
{
	uint64_t slot = HERMIT_STATS_HC_BASE + nr;

	if (nr == HC_SYSCALL)
		slot = ((const struct hc_syscall *)arg)->nr;
	if (!boot_info->stats_addr)
		boot_info->stats_addr = (uint64_t)table; /* the same value from every cpu */
	uint64_t t0 = arch_cycles();
	int rang = call(nr, arg);
	uint64_t ticks = arch_cycles() - t0;
	if (slot < HERMIT_STATS_SLOTS) {
		__atomic_fetch_add(&table[slot].count, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&table[slot].ticks, ticks, __ATOMIC_RELAXED);
		__atomic_fetch_add(&table[slot].rang, (uint64_t)rang, __ATOMIC_RELAXED);
	}
	return rang;
}

/* Pages in use, the part of the brk window the heap has not reached left out (it is
 * reserved at boot, 1/16 of RAM); called under the kernel lock. */
void stats_memory(void)
{
	uint64_t in_use = page_in_use() - vma_brk_reserved() / PAGE_SIZE;
	if (in_use > boot_info->pages_peak)
		boot_info->pages_peak = in_use;
}
