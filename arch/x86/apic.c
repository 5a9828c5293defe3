/*
 * The local APIC timer (TSC-deadline, else one-shot): one interrupt at the next deadline
 * that matters (a sleeper's wake-up, or the end of a time slice when others wait),
 * none while an idle core halts with nothing to wait for.
 */
#include <hermit/task.h>
#include <asm/event.h>
#include <asm/x86.h>

#define APIC_BASE 0xfee00000UL
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_LVT_TIMER 0x320
#define LVT_TSC_DEADLINE (2u << 17)
#define MSR_TSC_DEADLINE 0x6e0
#define LVT_MASKED (1u << 16)
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DIV 0x3e0
#define TIMER_DIV_1 0xb

#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define ICR_ASSERT (1u << 14)
#define APIC_ID 0x20

enum { TIMER_UNKNOWN, TIMER_NONE, TIMER_TSC_DEADLINE, TIMER_ONE_SHOT };
static int timer_mode;
static uint64_t ticks_per_cycle; /* one-shot: APIC timer ticks per TSC cycle, 32.32 */
static uint64_t armed[HERMIT_HC_MAILBOX_SLOTS]; /* per cpu: TSC value it fires at, or 0 */
static uint8_t apic_id[HERMIT_HC_MAILBOX_SLOTS];  /* per cpu: where its kicks go */

static void apic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(APIC_BASE + reg) = v;
}

static uint32_t apic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(APIC_BASE + reg);
}

/* The one-shot count runs at a rate we learn against the TSC over 1 ms. */
static void calibrate_one_shot(void)
{
	uint64_t wait = boot_info->tsc_khz ? boot_info->tsc_khz : 1000000, t0;

	apic_write(APIC_TIMER_DIV, TIMER_DIV_1);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
	apic_write(APIC_TIMER_INIT, 0xffffffffu);
	t0 = rdtsc();
	while (rdtsc() - t0 < wait)
		arch_relax();
	uint64_t ticks = 0xffffffffu - apic_read(APIC_TIMER_CUR), cycles = rdtsc() - t0;
	apic_write(APIC_TIMER_INIT, 0);
	ticks_per_cycle = (uint64_t)(((unsigned __int128)ticks << 32) / cycles);
}

/* The timer of this cpu: TSC-deadline where the cpu has it, else the APIC's own
 * one-shot count (QEMU without KVM), none under kvm_pvm. */
void apic_init(void)
{
	uint32_t r[4];
	int first = timer_mode == TIMER_UNKNOWN;

	if (first) {
		x86_cpuid1(&r[2], &r[3]); /* asked once, at boot */
		if (boot_info->pvm) {
			/* kvm_pvm delivers no interrupts to a guest running natively (measured):
			 * idle cores poll their deadlines instead, and the loader may deliver
			 * the timer and kicks to cpus that run the application (event.c). */
			kprintf("hermit: kvm_pvm: a privileged instruction traps for %lu us\n",
				(unsigned long)(x86_trap_cycles() * 1000 / (boot_info->tsc_khz | 1)));
			if (arch_events_init())
				kprintf("hermit: kvm_pvm: no interrupts, the loader delivers timer and kick events\n");
			else
				kprintf("hermit: kvm_pvm: no timer interrupts, threads switch when they block\n");
			timer_mode = TIMER_NONE;
		} else if (!(r[3] & (1u << 9))) {
			kprintf("hermit: no local APIC: threads switch only when they block\n");
			timer_mode = TIMER_NONE;
		} else {
			timer_mode = (r[2] & (1u << 24)) ? TIMER_TSC_DEADLINE : TIMER_ONE_SHOT;
		}
	}
	if (timer_mode == TIMER_NONE)
		return;
	apic_id[this_cpu()->id] = (uint8_t)(apic_read(APIC_ID) >> 24);
	apic_write(APIC_SVR, 0x100 | SPURIOUS_VECTOR);
	apic_write(APIC_TPR, 0);
	if (timer_mode == TIMER_TSC_DEADLINE) {
		apic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | TIMER_VECTOR);
		return;
	}
	if (first)
		calibrate_one_shot();
	apic_write(APIC_TIMER_DIV, TIMER_DIV_1);
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR); /* one-shot mode */
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

int arch_timer_available(void)
{
	return timer_mode == TIMER_TSC_DEADLINE || timer_mode == TIMER_ONE_SHOT;
}

/* The timer of this cpu fired (it fires once): the next arm counts as new. */
void apic_timer_fired(void)
{
	armed[this_cpu()->id] = 0;
}

/* Fire at TSC value `at` (0: never); rewrites the MSR only when it changes. */
void arch_timer_arm(uint64_t at)
{
	uint64_t *mine = &armed[this_cpu()->id];

	if (at == *mine)
		return;
	if (!arch_timer_available()) {
		if (arch_events_enabled()) {
			*mine = at;
			arch_event_due(at);
		}
		return;
	}
	*mine = at;
	if (timer_mode == TIMER_TSC_DEADLINE) {
		wrmsr(MSR_TSC_DEADLINE, at);
		return;
	}
	uint64_t now = rdtsc(), delta = at > now ? at - now : 1;
	unsigned __int128 ticks = ((unsigned __int128)delta * ticks_per_cycle) >> 32;
	apic_write(APIC_TIMER_INIT, !at ? 0 : ticks < 1 ? 1 : ticks > 0xffffffffu ? 0xffffffffu : (uint32_t)ticks);
}

/* Interrupt another cpu: its run queue changed (without a timer none halts,
 * and none is preempted: there is nothing to do). */
void arch_kick_cpu(uint32_t id)
{
	if (!arch_timer_available()) {
		if (arch_events_enabled())
			arch_event_kick(id);
		return;
	}
	apic_write(APIC_ICR_HIGH, (uint32_t)apic_id[id] << 24);
	apic_write(APIC_ICR_LOW, ICR_ASSERT | KICK_VECTOR);
}

/* Wait for an interrupt with interrupts enabled just for the wait. */
void arch_idle(void)
{
	if (arch_timer_available())
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	else
		arch_relax();
}

void irq_handler(struct trap_frame *f);

/* The timer or a kick: the scheduler looks at this cpu's queue and deadlines. */
void irq_handler(struct trap_frame *f)
{
	if (f->vector == TIMER_VECTOR)
		apic_timer_fired();
	apic_eoi();
	if (!(f->cs & 3)) {
		/* The idle loop's sti; hlt: it looks at its queue and deadlines itself.
		 * Some virtual cpus (QEMU/TCG's nested SVM, measured) deliver the interrupt
		 * inside sti's one-instruction shadow: returning onto the hlt would halt
		 * with the wake-up spent, so step over it. */
		if (*(const volatile uint8_t *)f->rip == 0xf4) /* hlt */
			f->rip++;
		return;
	}
	kernel_lock();
	sched_interrupt();
	arch_signal_irq(f);
	kernel_unlock();
}
