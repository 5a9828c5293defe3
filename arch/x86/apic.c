/*
 * The local APIC timer in TSC-deadline mode: one interrupt at the next deadline
 * that matters (a sleeper's wake-up, or the end of a time slice when others wait),
 * none while an idle core halts with nothing to wait for.
 */
#include <hermit/task.h>
#include <asm/x86.h>

#define APIC_BASE 0xfee00000UL
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_LVT_TIMER 0x320
#define LVT_TSC_DEADLINE (2u << 17)
#define MSR_TSC_DEADLINE 0x6e0

#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_ASSERT (1u << 14)

static int have_timer;
static uint64_t armed[HERMIT_HC_MAILBOX_SLOTS]; /* per cpu: TSC value it fires at, or 0 */

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
	if (have_timer) { /* another cpu: the checks below were made on the first */
		apic_write(APIC_SVR, 0x100 | SPURIOUS_VECTOR);
		apic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | TIMER_VECTOR);
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
	uint64_t *mine = &armed[this_cpu()->id];

	if (!have_timer || at == *mine)
		return;
	*mine = at;
	wrmsr(MSR_TSC_DEADLINE, at);
}

uint64_t arch_timer_armed(void)
{
	return armed[this_cpu()->id];
}

/* Wake cpus halted in their idle loop: there is work (none halt without a timer). */
void arch_kick_idle_cpus(void)
{
	if (!have_timer || cpus_online < 2)
		return;
	apic_write(APIC_ICR_HIGH, 0);
	apic_write(APIC_ICR_LOW, ICR_ALL_BUT_SELF | ICR_ASSERT | KICK_VECTOR);
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
	armed[this_cpu()->id] = 0; /* a TSC-deadline timer fires once */
	apic_eoi();
	timer_interrupt((f->cs & 3) != 0);
}

void irq_kick_handler(void);

void irq_kick_handler(void)
{
	apic_eoi(); /* the idle loop looks at the run queue itself */
}
