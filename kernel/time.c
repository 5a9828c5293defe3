/* Clocks from the TSC; the wall clock is the host's, asked for once.  The
 * parameters live in the vvar page, where the vDSO reads them too. */
#include <hermit/arch.h>
#include <hermit/clock.h>

void time_init(void)
{
	if (!boot_info->tsc_khz)
		boot_info->tsc_khz = 1000000; /* unknown: assume 1 GHz rather than divide by 0 */
	/* whatever firmware left there; the page's last word is the system call slot
	 * (arch_init filled it) */
	memset((void *)VVAR, 0, sizeof(*VVAR));
	VVAR->ns_mult = (1000000ULL << 32) / boot_info->tsc_khz;
	VVAR->tsc_base = boot_info->tsc_entry;
	VVAR->next_wake_tsc = ~0ULL; /* no thread sleeps yet */
}

uint64_t time_monotonic_ns(void)
{
	return clock_monotonic_ns(VVAR, arch_cycles());
}

/* The TSC value at monotonic time ns. */
uint64_t time_ns_to_cycles(uint64_t ns)
{
	uint64_t khz = boot_info->tsc_khz; /* split so that nothing overflows 64 bits */
	return VVAR->tsc_base + ns / 1000000 * khz + ns % 1000000 * khz / 1000000;
}

/* The host's wall clock, asked for on first use: no round trip on the boot path.
 * One aligned store publishes it; until then the vDSO passes realtime clocks here. */
uint64_t time_realtime_ns(void)
{
	if (!VVAR->realtime_base) {
		struct hc_time t;
		arch_hypercall(HC_TIME, &t);
		VVAR->realtime_base = t.ns - time_monotonic_ns();
	}
	return VVAR->realtime_base + time_monotonic_ns();
}

void time_delay_ns(uint64_t ns)
{
	uint64_t until = time_monotonic_ns() + ns;

	while (time_monotonic_ns() < until)
		arch_relax();
}
