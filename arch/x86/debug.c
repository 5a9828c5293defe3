/* A debugger attached through the loader (uhyve's GDB server, HERMIT_DEBUG=1): a
 * breakpoint (int3: #BP) or a single step (TF: #DB) stops the cpu in HC_DEBUG while
 * the debugger looks at and changes its registers; then the cpu goes on with them.
 * Works where the host's KVM cannot debug a guest itself (kvm_pvm). */
#include <hermit/arch.h>
#include <asm/x86.h>

/* What the debugger may change in rflags: the arithmetic flags, TF, DF and RF. */
#define RFLAGS_DEBUGGER 0x10dd5ULL

int arch_debug_trap(struct trap_frame *f, uint64_t in_app)
{
	if (!boot_info->debug || (f->vector != 1 && f->vector != 3))
		return 0;
	struct hc_debug d = {
		.vector = f->vector, .in_app = in_app, .rax = f->rax, .rbx = f->rbx,
		.rcx = f->rcx, .rdx = f->rdx, .rsi = f->rsi, .rdi = f->rdi, .rbp = f->rbp,
		.rsp = f->rsp, .r8 = f->r8, .r9 = f->r9, .r10 = f->r10, .r11 = f->r11,
		.r12 = f->r12, .r13 = f->r13, .r14 = f->r14, .r15 = f->r15, .rip = f->rip,
		.rflags = f->rflags, .cs = f->cs, .ss = f->ss,
	};
	arch_hypercall(HC_DEBUG, &d);
	f->rax = d.rax, f->rbx = d.rbx, f->rcx = d.rcx, f->rdx = d.rdx, f->rsi = d.rsi;
	f->rdi = d.rdi, f->rbp = d.rbp, f->rsp = d.rsp, f->r8 = d.r8, f->r9 = d.r9;
	f->r10 = d.r10, f->r11 = d.r11, f->r12 = d.r12, f->r13 = d.r13, f->r14 = d.r14;
	f->r15 = d.r15, f->rip = d.rip;
	f->rflags = (f->rflags & ~RFLAGS_DEBUGGER) | (d.rflags & RFLAGS_DEBUGGER);
	return 1;
}
