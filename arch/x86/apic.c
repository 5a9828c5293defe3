/*
 * The local APIC timer in TSC-deadline mode: one interrupt at the next deadline
 * that matters (a sleeper's wake-up, or the end of a time slice when others wait),
 * none while an idle core halts with nothing to wait for.
 */
#include <hermit/arch.h>
#include <asm/x86.h>

#define APIC_BASE 0xfee00000UL
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_LVT_TIMER 0x320
#define LVT_TSC_DEADLINE (2u << 17)
#define MSR_TSC_DEADLINE 0x6e0

static int have_timer;
static uint64_t armed; /* TSC value the timer fires at, 0 when disarmed */

static void apic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(APIC_BASE + reg) = v;
}

void apic_init(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	if (!(r[3] & (1u << 9)) || !(r[2] & (1u << 24))) {
		kprintf("hermit: no APIC TSC-deadline timer: threads switch only when they block\n");
		return;
	}
	if (boot_info->pvm) {
		/* kvm_pvm delivers no interrupts to a guest running natively (measured):
		 * idle cores poll their deadlines instead. */
		kprintf("hermit: kvm_pvm: no timer interrupts, threads switch when they block\n");
		return;
	}
	apic_write(APIC_SVR, 0x100 | SPURIOUS_VECTOR);
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | TIMER_VECTOR);
	have_timer = 1;
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

int arch_timer_available(void)
{
	return have_timer;
}

/* Fire at TSC value `at` (0: never); rewrites the MSR only when it changes. */
void arch_timer_arm(uint64_t at)
{
	if (!have_timer || at == armed)
		return;
	armed = at;
	wrmsr(MSR_TSC_DEADLINE, at);
}

uint64_t arch_timer_armed(void)
{
	return armed;
}

/* Wait for an interrupt with interrupts enabled just for the wait. */
void arch_idle(void)
{
	if (have_timer)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	else
		arch_relax();
}

void irq_handler(struct trap_frame *f);

void irq_handler(struct trap_frame *f)
{
	armed = 0; /* a TSC-deadline timer fires once */
	apic_eoi();
	timer_interrupt((f->cs & 3) != 0);
}
