/* The system-call trace (HERMIT_STRACE, kernel/trace.c) and the run statistics
 * (HERMIT_STATS, kernel/stats.c): what the loader reads from guest memory. */
#ifndef HERMIT_TRACE_H
#define HERMIT_TRACE_H

#include <hermit/kernel.h>

/* One system call in flight, on its thread's kernel stack: the arguments and
 * strings are taken at entry, since another thread may change the memory before
 * the loader reads the record. */
struct trace_call {
	struct trace_rec rec;
	char str[2][HERMIT_TRACE_STR];
};
_Static_assert(sizeof(struct trace_call) == HERMIT_TRACE_REC_BYTES, "spec.py: TRACE_REC_BYTES");

/* Whether the loader asked for the trace: one load from a fixed address, the only
 * cost of the trace while it is off. */
#define TRACE_ON() \
	__builtin_expect(((volatile struct boot_info *)HERMIT_BOOT_INFO_ADDR)->trace != 0, 0)

/* kernel/trace.c, under the kernel lock */
void trace_begin(struct trace_call *tc, uint64_t nr, const long a[6]);
void trace_end(struct trace_call *tc, long ret);
/* a host call made for the call in flight (kernel/sys_host.c) */
void trace_host(struct trace_call *tc, uint64_t nr, long ret, uint64_t ticks, int rang);

/* kernel/stats.c: a hypercall timed and counted; `call` makes it and says whether it
 * took a VM exit or doorbell (1) or the loader's poller took it from its slot (0) */
int stats_hypercall(unsigned nr, void *arg, int (*call)(unsigned nr, void *arg));
void stats_memory(void); /* after memory was handed out: the peak (boot_info.pages_peak) */

#endif
