/* Where code outside arch/x86/cpu.c finds things in struct percpu through %gs:
 * %gs is the cpu's block in ring 3 too (the application cannot set it), so the
 * vDSO's getcpu reads the cpu number without entering the kernel. */
#ifndef ASM_PERCPU_H
#define ASM_PERCPU_H

#define PERCPU_CPU_ID 24
/* struct cpu's run queue length and need_resched: the SDK's sched_yield reads them
 * to skip a system call that would change nothing */
#define PERCPU_RQ_LEN 80
#define PERCPU_NEED_RESCHED 88

#endif
