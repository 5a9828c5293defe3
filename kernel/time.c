/* Clocks from the TSC; the wall clock is the host's, read once at boot. */
#include <hermit/arch.h>

static uint64_t tsc_base, ns_mult; /* ns = (tsc - tsc_base) * ns_mult >> 32 */
static uint64_t realtime_base;

void time_init(void)
{
	if (!boot_info->tsc_khz)
		boot_info->tsc_khz = 1000000; /* unknown: assume 1 GHz rather than divide by 0 */
	ns_mult = (1000000ULL << 32) / boot_info->tsc_khz;
	tsc_base = boot_info->tsc_entry;
}

uint64_t time_monotonic_ns(void)
{
	return (uint64_t)(((unsigned __int128)(arch_cycles() - tsc_base) * ns_mult) >> 32);
}

/* The host's wall clock, asked for on first use: no round trip on the boot path. */
/* The TSC value at monotonic time ns. */
uint64_t time_ns_to_cycles(uint64_t ns)
{
	uint64_t khz = boot_info->tsc_khz; /* split so that nothing overflows 64 bits */
	return tsc_base + ns / 1000000 * khz + ns % 1000000 * khz / 1000000;
}

uint64_t time_realtime_ns(void)
{
	if (!realtime_base) {
		struct hc_time t;
		arch_hypercall(HC_TIME, &t);
		realtime_base = t.ns - time_monotonic_ns();
	}
	return realtime_base + time_monotonic_ns();
}

void time_delay_ns(uint64_t ns)
{
	uint64_t until = time_monotonic_ns() + ns;

	while (time_monotonic_ns() < until)
		arch_relax();
}
