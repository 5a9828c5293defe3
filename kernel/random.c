/* Random bytes for AT_RANDOM and getrandom(): RDRAND when present, else a TSC-seeded mix. */
#include <hermit/arch.h>

static uint64_t state;

static uint64_t next(void)
{
	uint64_t v;

	if (arch_hw_random(&v))
		return v;
	if (!state)
		state = arch_cycles() | 1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state * 0x2545f4914f6cdd1dULL;
}

void random_fill(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		uint64_t v = next();
		size_t n = len < 8 ? len : 8;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}
