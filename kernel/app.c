/* Start the application like Linux starts a static binary: argc, argv, envp and
 * auxv on a fresh stack, then musl's _start. */
#include <elf.h>

#include <hermit/arch.h>

#define APP_STACK_SIZE (8UL << 20)
#define ARGS_FIRST_TRY (64UL << 10) /* most command lines and environments fit */

extern char _start[];           /* musl's crt1.o */
extern const Elf64_Ehdr __ehdr_start; /* the image's ELF header, loaded with the first segment */

/* vec[0..count) = the NUL-separated strings; vec[count] = NULL. */
static void fill_vector(uint64_t *vec, char *strings, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		vec[i] = (uint64_t)strings;
		strings += strlen(strings) + 1;
	}
	vec[count] = 0;
}

/* Pages of the arguments the loader placed in guest memory (boot_info.args), or 0
 * when it did not, or not as the ABI says (then they are asked for by hypercall). */
uint64_t app_args_pages(void)
{
	const struct hc_args *a = (const struct hc_args *)boot_info->args;
	uint64_t at = boot_info->args;

	if (!at)
		return 0;
	if (at % PAGE_SIZE || !ram_contains(at, sizeof(*a)) || a->buf != at + sizeof(*a) ||
	    a->len > HERMIT_ARGS_MAX || a->argv_bytes + a->env_bytes != a->len ||
	    at + sizeof(*a) + a->len > HERMIT_BOOT_MAPPED_BYTES || !ram_contains(a->buf, a->len)) {
		boot_info->args = 0;
		return 0;
	}
	return ALIGN_UP(sizeof(*a) + a->len, PAGE_SIZE) / PAGE_SIZE;
}

/* Fetch argv and envp into the top of the stack; returns where the strings start. */
static char *fetch_args(uint64_t top, struct hc_args *a)
{
	uint64_t room = ARGS_FIRST_TRY, pages = app_args_pages();

	if (pages) { /* placed before boot: no hypercall (~200 us of boot on kvm_pvm) */
		*a = *(const struct hc_args *)boot_info->args;
		char *strings = (char *)ALIGN_DOWN(top - a->len, 16);
		memcpy(strings, (const void *)a->buf, a->len);
		page_free(boot_info->args, pages);
		boot_info->args = 0;
		return strings;
	}

	for (;;) {
		*a = (struct hc_args){ .buf = top - room, .len = room };
		arch_hypercall(HC_ARGS, a);
		uint64_t bytes = a->argv_bytes + a->env_bytes;
		if (bytes <= room) {
			char *strings = (char *)ALIGN_DOWN(top - bytes, 16);
			memmove(strings, (void *)a->buf, bytes); /* snug against the top */
			return strings;
		}
		if (bytes > HERMIT_ARGS_MAX) {
			static char line[128];

			ksnprintf(line, sizeof(line), "hermit: arguments and environment too large "
				  "(%lu bytes, at most %lu)\n", (unsigned long)bytes,
				  (unsigned long)HERMIT_ARGS_MAX);
			kernel_fail(line);
		}
		room = ALIGN_UP(bytes, PAGE_SIZE);
	}
}

noreturn void app_start(void)
{
	struct hc_args sz; /* counts and sizes of argv and envp */
	uint64_t top = vma_alloc_stack(APP_STACK_SIZE);

	if (!top) {
		static char line[160];

		ksnprintf(line, sizeof(line), "hermit: %lu MiB of guest memory leave no room for "
			  "the application's %lu MiB stack: raise HERMIT_MEM\n",
			  (unsigned long)((boot_info->mem_size + boot_info->mem_high) >> 20),
			  APP_STACK_SIZE >> 20);
		kernel_fail(line);
	}
	char *strings = fetch_args(top, &sz);

	uint8_t *random = (uint8_t *)strings - 16;
	static const char platform[] = ARCH_MACHINE;
	random_fill(random, 16);
	uint64_t auxv[][2] = {
		{ AT_PHDR, (uint64_t)&__ehdr_start + __ehdr_start.e_phoff },
		{ AT_PHENT, __ehdr_start.e_phentsize },
		{ AT_PHNUM, __ehdr_start.e_phnum },
		{ AT_PAGESZ, PAGE_SIZE },
		{ AT_ENTRY, (uint64_t)_start },
		{ AT_UID, 0 }, { AT_EUID, 0 }, { AT_GID, 0 }, { AT_EGID, 0 },
		{ AT_HWCAP, arch_hwcap() },
		{ AT_CLKTCK, 100 },
		{ AT_RANDOM, (uint64_t)random },
		{ AT_SECURE, 0 },
		{ AT_PLATFORM, (uint64_t)platform },
		{ AT_SYSINFO_EHDR, (uint64_t)vdso_image }, /* clocks without system calls */
		{ AT_NULL, 0 },
	};
	uint64_t words = 1 + sz.argc + 1 + sz.envc + 1 + 2 * ARRAY_SIZE(auxv);
	uint64_t *sp = (uint64_t *)ALIGN_DOWN((uint64_t)random - words * 8, 16);

	sp[0] = sz.argc;
	fill_vector(sp + 1, strings, sz.argc);
	fill_vector(sp + 2 + sz.argc, strings + sz.argv_bytes, sz.envc);
	memcpy(sp + 3 + sz.argc + sz.envc, auxv, sizeof(auxv));

	boot_info->tsc_main = arch_cycles();
	arch_enter_app((uint64_t)_start, (uint64_t)sp);
}
