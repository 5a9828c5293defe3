/*
 * Signals at an interrupt: the application was stopped anywhere, so rcx and r11
 * are live (a system call clobbers them, an interrupt does not).  The generic
 * code builds Linux's signal frame from a syscall_frame plus those two, and a
 * handler that returns to such a context comes back by iretq, not sysretq.
 */
#include <hermit/task.h>
#include <asm/event.h>
#include <asm/x86.h>


void arch_signal_irq(struct trap_frame *t)
{
	struct syscall_frame f = {
		.r15 = t->r15, .r14 = t->r14, .r13 = t->r13, .r12 = t->r12, .rbp = t->rbp,
		.rbx = t->rbx, .r9 = t->r9, .r8 = t->r8, .r10 = t->r10, .rdx = t->rdx,
		.rsi = t->rsi, .rdi = t->rdi, .rax = t->rax, .rip = t->rip,
		.rflags = t->rflags, .rsp = t->rsp,
	};

	current->full_ctx = 1;
	current->ctx_rcx = t->rcx;
	current->ctx_r11 = t->r11;
	signal_deliver(&f);
	if (current->full_ctx) { /* nothing to deliver: return as interrupted */
		current->full_ctx = 0;
		return;
	}
	/* enter the handler: its arguments, stack and address */
	t->rdi = f.rdi, t->rsi = f.rsi, t->rdx = f.rdx, t->rax = f.rax;
	t->rip = f.rip, t->rsp = f.rsp, t->rflags = f.rflags;
}

noreturn void arch_return_full(const struct syscall_frame *f)
{
	struct trap_frame t = {
		.r15 = f->r15, .r14 = f->r14, .r13 = f->r13, .r12 = f->r12,
		.r11 = current->ctx_r11, .r10 = f->r10, .r9 = f->r9, .r8 = f->r8,
		.rbp = f->rbp, .rdi = f->rdi, .rsi = f->rsi, .rdx = f->rdx,
		.rcx = current->ctx_rcx, .rbx = f->rbx, .rax = f->rax,
		.rip = f->rip, .cs = USER_CS, .rflags = f->rflags, .rsp = f->rsp, .ss = USER_DS,
	};

	current->full_ctx = 0;
	kernel_unlock();
	arch_iret_frame(&t);
}
