/* Where code outside arch/x86/cpu.c finds things in struct percpu through %gs:
 * %gs is the cpu's block in ring 3 too (the application cannot set it), so the
 * vDSO's getcpu reads the cpu number without entering the kernel. */
#ifndef ASM_PERCPU_H
#define ASM_PERCPU_H

/* 1 while the cpu runs the application: set on the way out to ring 3, cleared on
 * the way in (syscall.S, isr.S); read by the loader that delivers events. */
#define PERCPU_IN_USER 24
#define PERCPU_CPU_ID 32
/* struct cpu's run queue length and need_resched: the SDK's sched_yield reads them
 * to skip a system call that would change nothing */
#define PERCPU_RQ_LEN 88
#define PERCPU_NEED_RESCHED 96

#endif
