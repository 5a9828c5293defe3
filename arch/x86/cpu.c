/* Descriptor tables, IST stacks, FPU/SSE/AVX enablement and the syscall MSRs. */
#include <stddef.h>

#include <hermit/task.h>
#include <asm/event.h>
#include <asm/percpu.h>
#include <asm/x86.h>

#define IST_STACK_SIZE 8192
#define MAX_CPUS HERMIT_MAX_CPUS
_Static_assert(HERMIT_HC_MAILBOX_SLOTS >= MAX_CPUS, "a hypercall mailbox slot per cpu");

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

/* Per-cpu data reached through %gs; the first offsets are used by syscall.S. */
struct percpu {
	struct percpu *self;
	uint64_t kstack_top;
	uint64_t user_rsp;
	volatile uint64_t in_user; /* PERCPU_IN_USER */
	uint64_t cpu_id; /* PERCPU_CPU_ID: the vDSO's getcpu */
	struct cpu cpu; /* the generic kernel's */
	uint64_t gdt[10];
	struct tss tss;
	uint8_t ist_stacks[4][IST_STACK_SIZE] __attribute__((aligned(16)));
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct percpu, in_user) == PERCPU_IN_USER, "asm/percpu.h");
_Static_assert(offsetof(struct percpu, cpu_id) == PERCPU_CPU_ID, "asm/percpu.h");
_Static_assert(offsetof(struct percpu, cpu.rq.len) == PERCPU_RQ_LEN, "asm/percpu.h");
_Static_assert(offsetof(struct percpu, cpu.need_resched) == PERCPU_NEED_RESCHED, "asm/percpu.h");

extern char boot_stack_top[];
extern const uint64_t isr_table[32];
void irq_timer(void);
void irq_spurious(void);
void irq_kick(void);
void syscall_entry(void);

static struct idt_entry idt[256];
static struct percpu cpus[MAX_CPUS];
static uint64_t hwcap;
static int fsgsbase, has_xsave;
/* What the boot cpu's cpuid said, for every later question: under kvm_pvm each
 * cpuid is a VM exit (~7 us), and a thread's start or a signal asks for the FPU
 * area's size. */
static uint32_t leaf1_ecx, leaf1_edx, xsave_size;
static uint64_t xcr0, xsave_mask, trap_cycles;

static struct percpu *me(void)
{
	struct percpu *p;

	__asm__ volatile("mov %%gs:0, %0" : "=r"(p));
	return p;
}

struct cpu *this_cpu(void)
{
	return &me()->cpu;
}

struct cpu *cpu_get(uint32_t id)
{
	return &cpus[id].cpu;
}

static int gs_ready; /* %gs points at a struct percpu (early hypercalls come before) */

/* Where cpu `id` says whether it runs the application (PERCPU_IN_USER). */
volatile uint64_t *arch_in_user_flag(uint32_t id)
{
	return &cpus[id].in_user;
}

uint32_t this_cpu_id(void)
{
	return gs_ready ? me()->cpu.id : 0;
}

/* The tables' contents are the kernel's to write; loading them (lgdt, a far return,
 * segment loads, ltr) is the loader's when `ready`. */
static void gdt_init(struct percpu *p, uint64_t kstack_top, int ready)
{
	uint64_t *gdt = p->gdt;
	struct tss *tss = &p->tss;
	uint64_t base = (uint64_t)tss, limit = sizeof(*tss) - 1;
	struct table_desc d = { sizeof(p->gdt) - 1, (uint64_t)gdt };

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
		tss->ist[i] = (uint64_t)p->ist_stacks[i] + IST_STACK_SIZE;
	tss->rsp[0] = kstack_top; /* interrupts from the application */
	tss->iomap_base = sizeof(*tss);
	if (ready)
		return;

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

/* The IDT's gates; each cpu loads it in arch_init_cpu (one lidt: a trap on kvm_pvm). */
void trap_init(void)
{
	for (int v = 0; v < 32; v++) {
		uint64_t h = isr_table[v];
		/* IST1 for exceptions; own stacks for #DF, NMI and #MC. */
		uint8_t ist = v == 8 ? 2 : v == 2 ? 3 : v == 18 ? 4 : 1;
		/* int3 from the application must reach #BP (a debugger's breakpoint), not
		 * #GP: its gate is DPL 3, as Linux's; every other gate is the kernel's */
		uint8_t flags = v == 3 ? 0xee : 0x8e;
		idt[v] = (struct idt_entry){ (uint16_t)h, KERNEL_CS, ist, flags, (uint16_t)(h >> 16),
					     (uint32_t)(h >> 32), 0 };
	}
	set_gate(TIMER_VECTOR, (uint64_t)irq_timer);
	set_gate(SPURIOUS_VECTOR, (uint64_t)irq_spurious);
	set_gate(KICK_VECTOR, (uint64_t)irq_kick);
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return lo | (uint64_t)hi << 32;
}

/* ready: the loader set CR0 and CR4 as the boot would leave them before this
 * (CR4: PAE, OSFXSR, OSXMMEXCPT); what depends on CPUID is set here, since under
 * kvm_pvm the guest's cpuid is the host cpu's, not the table the loader gave KVM. */
static void fpu_init(int ready)
{
	uint32_t r[4];

	int first = !leaf1_edx;

	if (first) {
		cpuid(1, 0, r);
		leaf1_ecx = r[2];
		leaf1_edx = r[3] | 1; /* FPU: always there on x86_64; marks "asked" */
		hwcap = r[3];
		has_xsave = (r[2] >> 26) & 1;
		uint64_t t0 = rdtsc();
		cpuid(7, 0, r); /* on a page that just ran: the trap alone is timed */
		trap_cycles = rdtsc() - t0;
		fsgsbase = r[1] & 1;
		if (has_xsave) {
			cpuid(0xd, 0, r);
			xcr0 = r[0] & 0x7; /* x87, SSE, AVX */
			xsave_mask = r[0] | (uint64_t)r[3] << 32; /* what leaf 0xd describes */
			xsave_size = r[2]; /* the area of all of them: an upper bound */
		}
	}
	uint64_t cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (!ready) {
		write_cr0((read_cr0() & ~(uint64_t)(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
		cr4 |= read_cr4();
	}
	if (has_xsave)
		cr4 |= CR4_OSXSAVE;
	if (fsgsbase)
		cr4 |= CR4_FSGSBASE;
	write_cr4(cr4);
	if (has_xsave) {
		/* xgetbv is no trap; kvm_pvm's XCR0 (the host's) already has all three */
		uint64_t now = xgetbv0();
		if ((now & xcr0) != xcr0) {
			__asm__ volatile("xsetbv" ::"c"(0), "a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32)));
			now = xgetbv0();
		}
		/* kvm_pvm's native mode keeps the host's XCR0 whatever xsetbv says, and its
		 * leaf 0xd hides some of it (measured on a Xeon: XCR0 0x600e7, AMX's 8 KiB of
		 * tile data undescribed): xsave and xrstor name the components that are both
		 * enabled and described, so the area never outgrows xsave_size, and AVX-512
		 * state that the application can use there is kept across switches. */
		if (first)
			xsave_mask &= now;
	}
	__asm__ volatile("fninit"); /* MXCSR keeps its reset value 0x1f80 */
}

#define STAR (((uint64_t)KERNEL_CS << 32) | ((uint64_t)USER32_CS << 48))
#define FMASK 0x47700 /* clear TF, IF, DF, IOPL, AC on entry */

static void syscall_init(struct percpu *p, uint64_t kstack_top, int ready)
{
	p->self = p;
	p->kstack_top = kstack_top;
	if (ready) { /* the loader wrote these MSRs with the same values */
		gs_ready = 1;
		return;
	}
	wrmsr(MSR_GS_BASE, (uint64_t)p);
	/* kvm_pvm loads GS from KERNEL_GS_BASE when the application enters the kernel. */
	wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)p);
	gs_ready = 1;
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_STAR, STAR);
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, FMASK);
}

/*
 * kvm_pvm emulates supervisor code one instruction at a time (no SSE) until the
 * guest hands it a page through this MSR; from then on the kernel runs natively
 * (at hardware CPL 3, privileged instructions trapping to KVM).  Real KVM has no
 * such MSR, so only do this when the loader says the host is kvm_pvm.  It needs
 * user-accessible page tables: both boot paths build them so.
 */
static uint8_t pvm_pages[MAX_CPUS][4096] __attribute__((aligned(4096)));

void arch_pvm_native(uint32_t cpu)
{
	if (boot_info->pvm && cpu < MAX_CPUS)
		wrmsr(HERMIT_PVM_MSR_NATIVE, (uint64_t)pvm_pages[cpu]);
}

/* One cpu's descriptor tables, FPU and system call entry; kstack_top is the
 * stack its boot thread runs on. */
void arch_init_cpu(uint32_t id, uint64_t kstack_top)
{
	struct percpu *p = &cpus[id];

	/* uhyve set this cpu's control, segment and descriptor-table registers and the
	 * syscall MSRs before boot, from the note below: each is a trap on kvm_pvm */
	int ready = boot_info->cpu_ready != 0;

	p->cpu.id = id;
	p->cpu_id = id;
	gdt_init(p, kstack_top, ready);
	if (!ready)
		__asm__ volatile("lidt %0" ::"m"((struct table_desc){ sizeof(idt) - 1, (uint64_t)idt }));
	fpu_init(ready);
	syscall_init(p, kstack_top, ready);
}

/* What a loader needs to set those registers itself (NOTE_CPU_STATE in
 * hermit_build/abi/spec.py; read by hermit_build/elfload.py).  In a function so that
 * the compiler gives the addresses and offsets; the note is kept by itself. */
__attribute__((used)) static void cpu_note(void)
{
	__asm__(".pushsection .note.hermit, \"a\", @note\n\t"
		".balign 4\n\t"
		".long 7, 112, %P0\n\t"
		".asciz \"" HERMIT_NOTE_NAME "\"\n\t"
		".balign 4\n\t"
		".quad %P1, %P2, %P3, %P4, %P5, %P6, %P7\n\t"
		".quad %P8, %P9, %P10, %P11, %P12, %P13, %P14\n\t"
		".popsection"
		:
		: "i"(HERMIT_NOTE_CPU_STATE), "i"(cpus), "i"(sizeof(struct percpu)),
		  "i"(offsetof(struct percpu, gdt)), "i"(sizeof(cpus[0].gdt)),
		  "i"(offsetof(struct percpu, tss)), "i"(sizeof(struct tss)), "i"(idt),
		  "i"(sizeof(idt)), "i"(syscall_entry), "i"(STAR), "i"(FMASK), "i"(KERNEL_CS),
		  "i"(KERNEL_DS), "i"(TSS_SEL));
}

void arch_init(void)
{
	/* Mask the legacy PICs: nothing may arrive on the exception vectors.  uhyve
	 * has no PIT and no device on them (each outb is a VM exit of ~12 us on
	 * kvm_pvm); QEMU has both. */
	if (boot_info->loader != HERMIT_LOADER_UHYVE) {
		outb(0x21, 0xff);
		outb(0xa1, 0xff);
	}
	trap_init();
	arch_init_cpu(0, (uint64_t)boot_stack_top);
	arch_syscall_mode_init();
}

uint32_t arch_max_cpus(void)
{
	return MAX_CPUS;
}

/* What needs hermit's own page tables (the APIC's registers are mapped there). */
void arch_init_late(void)
{
	apic_init();
}

/* Where system calls and interrupts from the application land for this thread. */
void arch_set_kernel_stack(uint64_t top)
{
	struct percpu *p = me();

	p->kstack_top = top;
	p->tss.rsp[0] = top;
}

/* The application's stack pointer at its current system call. */
uint64_t arch_user_sp(void)
{
	return me()->user_rsp;
}

int arch_has_xsave(void)
{
	return has_xsave;
}

/* TSC cycles one cpuid took at boot: under kvm_pvm what any privileged instruction
 * costs, a trap to the hypervisor (boot's figures are multiples of it). */
uint64_t x86_trap_cycles(void)
{
	return trap_cycles;
}

uint64_t x86_xsave_mask(void)
{
	return xsave_mask;
}

uint64_t arch_fpu_size(void)
{
	return has_xsave ? xsave_size : 512; /* xsave's area, or fxsave's */
}

void x86_cpuid1(uint32_t *ecx, uint32_t *edx)
{
	*ecx = leaf1_ecx;
	*edx = leaf1_edx;
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
	unsigned char ok;

	if (!((leaf1_ecx >> 30) & 1))
		return 0;
	for (int i = 0; i < 10; i++) {
		__asm__ volatile("rdrand %0; setc %1" : "=r"(*out), "=qm"(ok));
		if (ok)
			return 1;
	}
	return 0;
}
