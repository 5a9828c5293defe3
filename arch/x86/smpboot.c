/* Starting QEMU's other cpus: INIT, then STARTUP (twice) at the real-mode trampoline. */
#include <hermit/task.h>
#include <asm/x86.h>

#define TRAMPOLINE_BASE HERMIT_TRAMPOLINE_ADDR
#define APIC_BASE 0xfee00000UL
#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_ASSERT (1u << 14)
#define ICR_PENDING (1u << 12)

extern char trampoline_start[], trampoline_end[], hermit_entry[];
extern uint64_t trampoline_entry;
extern uint32_t trampoline_cr3, trampoline_cpu;

static void icr(uint32_t apic_id, uint32_t low)
{
	volatile uint32_t *r = (volatile uint32_t *)APIC_BASE;

	r[APIC_ICR_HIGH / 4] = apic_id << 24;
	r[APIC_ICR_LOW / 4] = low;
	while (r[APIC_ICR_LOW / 4] & ICR_PENDING)
		arch_relax();
}

/* Start cpus 1..n-1 one at a time (they share the trampoline); returns how many run. */
uint32_t arch_start_aps(uint32_t n)
{
	uint32_t started = 1;

	for (uint32_t id = 1; id < n; id++) {
		trampoline_entry = (uint64_t)hermit_entry;
		trampoline_cr3 = (uint32_t)read_cr3();
		trampoline_cpu = id;
		memcpy((void *)TRAMPOLINE_BASE, trampoline_start,
		       (size_t)(trampoline_end - trampoline_start));
		uint32_t before = __atomic_load_n(&aps_alive, __ATOMIC_ACQUIRE);
		icr(id, ICR_INIT | ICR_ASSERT);
		time_delay_ns(1000000);
		for (int i = 0; i < 2 && __atomic_load_n(&aps_alive, __ATOMIC_ACQUIRE) == before; i++) {
			icr(id, ICR_STARTUP | ICR_ASSERT | (TRAMPOLINE_BASE >> 12));
			time_delay_ns(200000);
		}
		uint64_t until = time_monotonic_ns() + 200000000; /* a slow emulator: 200 ms */
		while (__atomic_load_n(&aps_alive, __ATOMIC_ACQUIRE) == before &&
		       time_monotonic_ns() < until)
			arch_relax();
		if (__atomic_load_n(&aps_alive, __ATOMIC_ACQUIRE) == before) {
			kprintf("hermit: cpu %u did not start\n", id);
			break;
		}
		started++;
	}
	return started;
}
