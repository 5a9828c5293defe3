/* Threads on x86_64: FPU/SSE/AVX state, TLS base, kernel stacks, the switch. */
#include <hermit/task.h>
#include <asm/x86.h>

extern char boot_stack_top[];

void arch_fpu_save(void *area)
{
	if (arch_has_xsave()) {
		uint64_t m = x86_xsave_mask();
		__asm__ volatile("xsave (%0)" ::"r"(area), "a"((uint32_t)m), "d"((uint32_t)(m >> 32))
				 : "memory");
	}
	else
		__asm__ volatile("fxsave (%0)" ::"r"(area) : "memory");
}

void arch_fpu_restore(const void *area)
{
	if (arch_has_xsave()) {
		uint64_t m = x86_xsave_mask();
		__asm__ volatile("xrstor (%0)" ::"r"(area), "a"((uint32_t)m), "d"((uint32_t)(m >> 32))
				 : "memory");
	}
	else
		__asm__ volatile("fxrstor (%0)" ::"r"(area) : "memory");
}

void arch_task_init_main(struct task *t)
{
	t->kstack_top = (uint64_t)boot_stack_top;
	t->fs_base = 0;
}

/*
 * A new thread's kernel stack: a copy of the parent's system call frame (rax = 0,
 * the new user stack) under the registers arch_switch_stack pops, returning into
 * the system call exit path.  Its FPU state starts as a copy of the parent's.
 */
void arch_task_prepare(struct task *child, const struct syscall_frame *frame, uint64_t user_sp)
{
	struct syscall_frame *f = (struct syscall_frame *)(child->kstack_top - sizeof(*f));
	uint64_t *sw = (uint64_t *)f - 7;

	*f = *frame;
	f->rax = 0;
	f->rsp = user_sp;
	for (int i = 0; i < 6; i++)
		sw[i] = 0; /* r15, r14, r13, r12, rbx, rbp */
	sw[6] = (uint64_t)ret_from_clone;
	child->ksp = (uint64_t)sw;
	arch_fpu_save(child->fpu);
}

/* An idle task starts in idle_loop() (as if called: rsp = 8 mod 16 there). */
void arch_task_prepare_idle(struct task *idle)
{
	uint64_t *sw = (uint64_t *)(idle->kstack_top - 8 * 8);

	for (int i = 0; i < 6; i++)
		sw[i] = 0;
	sw[6] = (uint64_t)idle_loop;
	idle->ksp = (uint64_t)sw;
}

void arch_switch_to(struct task *prev, struct task *next)
{
	arch_fpu_save(prev->fpu);
	arch_fpu_restore(next->fpu);
	arch_set_tls(next->fs_base);
	arch_set_kernel_stack(next->kstack_top);
	arch_switch_stack(&prev->ksp, next->ksp);
}
