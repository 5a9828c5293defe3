/* x86_64 instructions and registers used inside arch/x86. */
#ifndef ASM_X86_H
#define ASM_X86_H

#include <stdint.h>

#include <asm/frame.h> /* struct syscall_frame, struct frame_clobbered */

#define MSR_EFER 0xC0000080
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_FMASK 0xC0000084
#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102

#define EFER_SCE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_NE (1u << 5)
#define CR4_PAE (1u << 5)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_FSGSBASE (1u << 16)
#define CR4_OSXSAVE (1u << 18)

/* Linux's GDT layout.  SYSCALL/SYSRET fix the order (user SS = STAR[63:48] + 8,
 * user CS = + 16), and on kvm_pvm hosts the user selectors must equal the host's. */
#define KERNEL_CS 0x10
#define KERNEL_DS 0x18
#define USER32_CS (0x20 | 3)
#define USER_DS (0x28 | 3)
#define USER_CS (0x30 | 3)
#define USER_CS_IRET (0x38 | 3) /* the same segment again: kvm_pvm sees an iretq to it */
#define TSS_SEL 0x40

/* How the application enters the kernel (arch/x86/callsys.c): 1 when it runs at
 * the kernel's privilege and calls, 0 when it traps from ring 3. */
extern uint8_t arch_app_supervisor;
void arch_syscall_mode_init(void);

#define TIMER_VECTOR 32
#define KICK_VECTOR 33
#define SPURIOUS_VECTOR 0xff

/* cpuid leaf 1's ecx and edx as the boot cpu read them (cpu.c, fpu_init) */
void x86_cpuid1(uint32_t *ecx, uint32_t *edx);

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define DEFINE_CR(n)                                                        \
	static inline uint64_t read_cr##n(void)                             \
	{                                                                   \
		uint64_t v;                                                 \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));           \
		return v;                                                   \
	}                                                                   \
	static inline void write_cr##n(uint64_t v)                          \
	{                                                                   \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory");    \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)

static inline void invlpg(uint64_t addr)
{
	__asm__ volatile("invlpg (%0)" ::"r"(addr) : "memory");
}

/* Registers pushed by the exception stubs (isr.S), lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* arch/x86/cpu.c */
void trap_init(void);
void arch_set_kernel_stack(uint64_t top);
int arch_has_xsave(void);
uint64_t x86_xsave_mask(void); /* the components xsave and xrstor name */
uint64_t x86_trap_cycles(void);
/* arch/x86/apic.c */
void apic_init(void);
void apic_eoi(void);
void apic_timer_fired(void);
/* arch/x86/syscall.S */
void arch_switch_stack(uint64_t *prev_ksp, uint64_t next_ksp);
void syscall_return(void);
void ret_from_clone(void);
/* arch/x86/trap.c */
void trap_handler(struct trap_frame *f, uint64_t in_app);
/* arch/x86/debug.c: 1 when a debugger took the trap (the frame may have changed) */
int arch_debug_trap(struct trap_frame *f, uint64_t in_app);
/* arch/x86/sigctx.c: deliver signals on the way back from an interrupt */
void arch_signal_irq(struct trap_frame *f);
struct trap_frame arch_trap_frame(const struct syscall_frame *f, struct frame_clobbered c);

#endif
