/* The clocks' one formula, shared by the kernel (kernel/time.c) and the vDSO
 * (arch/x86/vdso), so that a clock read in the application without a system call
 * equals the system call's answer at the same TSC value. */
#ifndef HERMIT_CLOCK_H
#define HERMIT_CLOCK_H

#include <stdint.h>

#include <hermit/abi.h>

/* Written by the kernel only; volatile so that every read sees its latest word. */
#define VVAR ((volatile struct vvar *)HERMIT_VVAR_ADDR)

static inline uint64_t clock_monotonic_ns(const volatile struct vvar *v, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)(tsc - v->tsc_base) * v->ns_mult) >> 32);
}

#endif
