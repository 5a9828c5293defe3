/* Descriptor tables, IST stacks, FPU/SSE/AVX enablement and the syscall MSRs. */
#include <hermit/arch.h>
#include <asm/x86.h>

#define IST_STACK_SIZE 16384

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct idt_entry {
	uint16_t off_lo, sel;
	uint8_t ist, flags;
	uint16_t off_mid;
	uint32_t off_hi, reserved;
} __attribute__((packed));

struct table_desc {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* Per-CPU data reached through %gs; the offsets are used by syscall.S. */
struct percpu {
	struct percpu *self;
	uint64_t kstack_top;
	uint64_t user_rsp;
};

extern char boot_stack_top[];
extern const uint64_t isr_table[32];
void irq_timer(void);
void irq_spurious(void);
void syscall_entry(void);

static uint64_t gdt[10];
static struct tss tss;
static struct idt_entry idt[256];
static struct percpu percpu0;
static uint8_t ist_stacks[4][IST_STACK_SIZE] __attribute__((aligned(16)));
static uint64_t hwcap;
static int fsgsbase, has_xsave;

static void gdt_init(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	struct table_desc d = { sizeof(gdt) - 1, (uint64_t)gdt };

	gdt[KERNEL_CS / 8] = 0x00af9a000000ffffULL; /* 64-bit code */
	gdt[KERNEL_DS / 8] = 0x00cf92000000ffffULL;
	gdt[USER32_CS / 8] = 0x00cffa000000ffffULL; /* 32-bit code (unused, fixed by SYSRET) */
	gdt[USER_DS / 8] = 0x00cff2000000ffffULL;
	gdt[USER_CS / 8] = 0x00affa000000ffffULL; /* 64-bit code */
	gdt[USER_CS_IRET / 8] = 0x00affa000000ffffULL;
	gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
			   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[TSS_SEL / 8 + 1] = base >> 32;
	for (int i = 0; i < 4; i++)
		tss.ist[i] = (uint64_t)ist_stacks[i] + IST_STACK_SIZE;
	tss.rsp[0] = (uint64_t)boot_stack_top; /* interrupts from the application */
	tss.iomap_base = sizeof(tss);

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %2, %%ds\n\t"
			 "mov %2, %%es\n\t"
			 "mov %2, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(d), "i"(KERNEL_CS), "r"(KERNEL_DS), "r"(TSS_SEL)
			 : "rax", "memory");
}

static void set_gate(int v, uint64_t h)
{
	idt[v] = (struct idt_entry){ (uint16_t)h, KERNEL_CS, 0, 0x8e, (uint16_t)(h >> 16),
				     (uint32_t)(h >> 32), 0 };
}

void trap_init(void)
{
	struct table_desc d = { sizeof(idt) - 1, (uint64_t)idt };

	for (int v = 0; v < 32; v++) {
		uint64_t h = isr_table[v];
		/* IST1 for exceptions; own stacks for #DF, NMI and #MC. */
		uint8_t ist = v == 8 ? 2 : v == 2 ? 3 : v == 18 ? 4 : 1;
		idt[v] = (struct idt_entry){ (uint16_t)h, KERNEL_CS, ist, 0x8e, (uint16_t)(h >> 16),
					     (uint32_t)(h >> 32), 0 };
	}
	set_gate(TIMER_VECTOR, (uint64_t)irq_timer);
	set_gate(SPURIOUS_VECTOR, (uint64_t)irq_spurious);
	__asm__ volatile("lidt %0" ::"m"(d));
}

static void fpu_init(void)
{
	uint32_t r[4];

	write_cr0((read_cr0() & ~(uint64_t)(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
	uint64_t cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT;
	cpuid(1, 0, r);
	hwcap = r[3];
	int xsave = has_xsave = (r[2] >> 26) & 1;
	if (xsave)
		cr4 |= CR4_OSXSAVE;
	cpuid(7, 0, r);
	fsgsbase = r[1] & 1;
	if (fsgsbase)
		cr4 |= CR4_FSGSBASE;
	write_cr4(cr4);
	if (xsave) {
		cpuid(0xd, 0, r);
		uint64_t xcr0 = r[0] & 0x7; /* x87, SSE, AVX */
		__asm__ volatile("xsetbv" ::"c"(0), "a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32)));
	}
	__asm__ volatile("fninit"); /* MXCSR keeps its reset value 0x1f80 */
}

static void syscall_init(void)
{
	percpu0.self = &percpu0;
	percpu0.kstack_top = (uint64_t)boot_stack_top;
	wrmsr(MSR_GS_BASE, (uint64_t)&percpu0);
	/* kvm_pvm loads GS from KERNEL_GS_BASE when the application enters the kernel. */
	wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)&percpu0);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_STAR, ((uint64_t)KERNEL_CS << 32) | ((uint64_t)USER32_CS << 48));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, 0x47700); /* clear TF, IF, DF, IOPL, AC on entry */
}

/*
 * kvm_pvm emulates supervisor code one instruction at a time (no SSE) until the
 * guest hands it a page through this MSR; from then on the kernel runs natively
 * (at hardware CPL 3, privileged instructions trapping to KVM).  Real KVM has no
 * such MSR, so only do this when the loader says the host is kvm_pvm.  It needs
 * user-accessible page tables: both boot paths build them so.
 */
static uint8_t pvm_page[4096] __attribute__((aligned(4096)));

static void pvm_native(void)
{
	if (boot_info->pvm)
		wrmsr(HERMIT_PVM_MSR_NATIVE, (uint64_t)pvm_page);
}

void arch_init(void)
{
	pvm_native(); /* first: until then kvm_pvm emulates every instruction (~5k cycles each) */
	/* Mask the legacy PICs: nothing may arrive on the exception vectors. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	gdt_init();
	trap_init();
	fpu_init();
	syscall_init();
}

/* What needs hermit's own page tables (the APIC's registers are mapped there). */
void arch_init_late(void)
{
	apic_init();
}

/* Where system calls and interrupts from the application land for this thread. */
void arch_set_kernel_stack(uint64_t top)
{
	percpu0.kstack_top = top;
	tss.rsp[0] = top;
}

int arch_has_xsave(void)
{
	return has_xsave;
}

uint64_t arch_hwcap(void)
{
	return hwcap;
}

void arch_set_tls(uint64_t base)
{
	if (fsgsbase) /* no trap to the hypervisor, unlike wrmsr */
		__asm__ volatile("wrfsbase %0" ::"r"(base));
	else
		wrmsr(MSR_FS_BASE, base);
}

uint64_t arch_get_tls(void)
{
	return rdmsr(MSR_FS_BASE);
}

uint64_t arch_cycles(void)
{
	return rdtsc();
}

void arch_relax(void)
{
	__asm__ volatile("pause");
}

noreturn void arch_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

int arch_hw_random(uint64_t *out)
{
	uint32_t r[4];
	unsigned char ok;

	cpuid(1, 0, r);
	if (!((r[2] >> 30) & 1))
		return 0;
	for (int i = 0; i < 10; i++) {
		__asm__ volatile("rdrand %0; setc %1" : "=r"(*out), "=qm"(ok));
		if (ok)
			return 1;
	}
	return 0;
}
