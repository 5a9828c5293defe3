/*
 * Linux x86_64's signal context.  kernel/signal.c builds the frame; here its
 * registers (mcontext_t) from and to a syscall_frame.  At an interrupt the
 * application was stopped anywhere, so rcx and r11 are live (a system call
 * clobbers them, an interrupt does not): they travel in current->clobbered, and
 * a handler that returns to such a context comes back by iretq, not sysretq.
 */
#include <hermit/task.h>
#include <asm/event.h>
#include <asm/sigctx.h>
#include <asm/x86.h>

void arch_sigctx_save(mcontext_t *mc, const struct syscall_frame *f, int full)
{
	greg_t *g = mc->gregs;

	g[REG_R8] = f->r8, g[REG_R9] = f->r9, g[REG_R10] = f->r10, g[REG_R11] = f->rflags;
	g[REG_R12] = f->r12, g[REG_R13] = f->r13, g[REG_R14] = f->r14, g[REG_R15] = f->r15;
	g[REG_RDI] = f->rdi, g[REG_RSI] = f->rsi, g[REG_RBP] = f->rbp, g[REG_RBX] = f->rbx;
	g[REG_RDX] = f->rdx, g[REG_RAX] = f->rax, g[REG_RCX] = f->rip, g[REG_RSP] = f->rsp;
	g[REG_RIP] = f->rip, g[REG_EFL] = f->rflags;
	if (full)
		g[REG_RCX] = current->clobbered.rcx, g[REG_R11] = current->clobbered.r11;
}

long arch_sigctx_restore(struct syscall_frame *f, const mcontext_t *mc, int full)
{
	const greg_t *g = mc->gregs;

	f->r8 = g[REG_R8], f->r9 = g[REG_R9], f->r10 = g[REG_R10];
	f->r12 = g[REG_R12], f->r13 = g[REG_R13], f->r14 = g[REG_R14], f->r15 = g[REG_R15];
	f->rdi = g[REG_RDI], f->rsi = g[REG_RSI], f->rbp = g[REG_RBP], f->rbx = g[REG_RBX];
	f->rdx = g[REG_RDX], f->rsp = g[REG_RSP], f->rip = g[REG_RIP];
	f->rflags = (g[REG_EFL] & 0xcd5) | 0x202; /* arithmetic flags and DF; IF stays on */
	if (full)
		current->clobbered = (struct frame_clobbered){ g[REG_RCX], g[REG_R11] };
	return g[REG_RAX];
}

/* The application's whole context as an interrupt frame: its system call frame and
 * what the system call clobbered. */
struct trap_frame arch_trap_frame(const struct syscall_frame *f, struct frame_clobbered c)
{
	return (struct trap_frame){
		.r15 = f->r15, .r14 = f->r14, .r13 = f->r13, .r12 = f->r12,
		.r11 = c.r11, .r10 = f->r10, .r9 = f->r9, .r8 = f->r8,
		.rbp = f->rbp, .rdi = f->rdi, .rsi = f->rsi, .rdx = f->rdx,
		.rcx = c.rcx, .rbx = f->rbx, .rax = f->rax,
		.rip = f->rip, .cs = USER_CS, .rflags = f->rflags, .rsp = f->rsp, .ss = USER_DS,
	};
}

void arch_signal_irq(struct trap_frame *t)
{
	struct syscall_frame f = {
		.r15 = t->r15, .r14 = t->r14, .r13 = t->r13, .r12 = t->r12, .rbp = t->rbp,
		.rbx = t->rbx, .r9 = t->r9, .r8 = t->r8, .r10 = t->r10, .rdx = t->rdx,
		.rsi = t->rsi, .rdi = t->rdi, .rax = t->rax, .rip = t->rip,
		.rflags = t->rflags, .rsp = t->rsp,
	};

	current->full_ctx = 1;
	current->clobbered = (struct frame_clobbered){ t->rcx, t->r11 };
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
	struct trap_frame t = arch_trap_frame(f, current->clobbered);

	current->full_ctx = 0;
	kernel_unlock();
	arch_iret_frame(&t);
}
