/* CPU exceptions: report registers and a frame-pointer backtrace to the loader. */
#include <hermit/arch.h>
#include <asm/x86.h>

static const int fault_signal[32] = {
	[0] = 8,  /* #DE: SIGFPE */
	[6] = 4,  /* #UD: SIGILL */
	[13] = 11, [14] = 11, [12] = 11, /* #GP, #PF, #SS: SIGSEGV */
	[16] = 8, [19] = 8, /* x87 / SIMD: SIGFPE */
	[17] = 7, /* #AC: SIGBUS */
	[3] = 5, [1] = 5, /* breakpoints: SIGTRAP */
};

static int in_trap;

static int stack_word_ok(uint64_t addr)
{
	return !(addr & 7) && addr >= PAGE_SIZE && ram_contains(addr, 16) &&
	       arch_is_mapped(addr) && arch_is_mapped(addr + 8);
}

static uint64_t backtrace(struct hc_fault *r, uint64_t rbp)
{
	uint64_t n = 0;

	r->frame0 = r->r_rip;
	uint64_t *frames = &r->frame0;
	for (n = 1; n < HERMIT_MAX_FRAMES && stack_word_ok(rbp); n++) {
		uint64_t next = ((uint64_t *)rbp)[0], ret = ((uint64_t *)rbp)[1];
		if (!ret)
			break;
		frames[n] = ret;
		if (next <= rbp)
			break;
		rbp = next;
	}
	return n;
}

void trap_handler(struct trap_frame *f, uint64_t in_app)
{
	static struct hc_fault r;

	if (arch_debug_trap(f, in_app))
		return; /* the debugger's: back to the code (isr.S) */
	if (in_trap++) {
		/* A fault while reporting a fault: give up quietly but visibly. */
		kernel_exit(255);
	}
	r = (struct hc_fault){
		.vector = f->vector, .error = f->error, .cr2 = read_cr2(), .in_app = in_app,
		.r_rip = f->rip, .r_rsp = f->rsp, .r_rbp = f->rbp, .r_rflags = f->rflags,
		.r_rax = f->rax, .r_rbx = f->rbx, .r_rcx = f->rcx, .r_rdx = f->rdx,
		.r_rsi = f->rsi, .r_rdi = f->rdi, .r_r8 = f->r8, .r_r9 = f->r9,
		.r_r10 = f->r10, .r_r11 = f->r11, .r_r12 = f->r12, .r_r13 = f->r13,
		.r_r14 = f->r14, .r_r15 = f->r15, .r_cs = f->cs, .r_ss = f->ss,
		.r_fs_base = rdmsr(MSR_FS_BASE), .r_cr3 = read_cr3(),
	};
	r.nframes = backtrace(&r, f->rbp);
	kprintf("exception %lu (error %#lx) at rip %#lx, rsp %#lx, cr2 %#lx\n",
		(unsigned long)f->vector, (unsigned long)f->error, (unsigned long)f->rip,
		(unsigned long)f->rsp, (unsigned long)r.cr2);
	arch_hypercall(HC_FAULT, &r);
	/* The loader ends the VM; should it return, exit like a killed process. */
	int sig = f->vector < 32 && fault_signal[f->vector] ? fault_signal[f->vector] : 11;
	kernel_exit(128 + sig);
}
