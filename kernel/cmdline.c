/* The kernel command line under QEMU: hermit.<key>=<number> settings from the runner
 * (guest RAM comes from QEMU's memory map instead, see arch/x86/pvh.c). */
#include <hermit/kernel.h>

static uint64_t parse_number(const char *s, const char *end)
{
	uint64_t v = 0, base = 10;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; s < end; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0'
			: (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f' ? (*s | 0x20) - 'a' + 10 : -1;
		if (d < 0 || (uint64_t)d >= base)
			break;
		v = v * base + (uint64_t)d;
	}
	return v;
}

static const struct {
	const char *key;
	size_t offset;
} keys[] = {
#define KEY(key, field) { key, __builtin_offsetof(struct boot_info, field) },
	HERMIT_CMDLINE(KEY)
#undef KEY
};

void cmdline_parse(const char *s, uint64_t len)
{
	const char *end = s + len;

	while (s < end) {
		while (s < end && *s == ' ')
			s++;
		const char *w = s;
		while (s < end && *s != ' ')
			s++;
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t kl = strlen(keys[i].key);
			if ((size_t)(s - w) > kl && !strncmp(w, keys[i].key, kl))
				*(uint64_t *)((char *)boot_info + keys[i].offset) = parse_number(w + kl, s);
		}
	}
}
