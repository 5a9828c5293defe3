/*
 * sched_yield() that enters the kernel only when that can change something: when
 * a thread waits for this cpu, the kernel has news for the caller (need_resched:
 * a signal, a new affinity), or a sleeping thread is due (without a timer, as on
 * kvm_pvm, a yield is where sleepers get woken).  Otherwise the kernel would just
 * return; skipping it saves a ~6,700-cycle world switch on kvm_pvm.  The per-cpu
 * words are read through %gs, the cpu's block in ring 3 too (asm/percpu.h).
 */
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <asm/percpu.h>
#include <hermit/clock.h>

int sched_yield(void)
{
	uint32_t queued, resched, lo, hi;

	__asm__ volatile("movl %%gs:%c2, %0\n\tmovl %%gs:%c3, %1"
			 : "=r"(queued), "=r"(resched)
			 : "i"(PERCPU_RQ_LEN), "i"(PERCPU_NEED_RESCHED));
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	if (!queued && !resched && (((uint64_t)hi << 32) | lo) < VVAR->next_wake_tsc)
		return 0;
	return (int)syscall(SYS_sched_yield);
}
