/* Ending the guest: the exit status goes to the loader, which stops the VM. */
#include <hermit/arch.h>
#include <hermit/fd.h>

static const char *const signal_names[32] = {
	[4] = "SIGILL", [5] = "SIGTRAP", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE",
	[9] = "SIGKILL", [11] = "SIGSEGV", [13] = "SIGPIPE", [15] = "SIGTERM",
};

noreturn void kernel_exit(int code)
{
	struct hc_exit e = { .code = (uint64_t)(int64_t)code };

	shmap_sync_all(); /* what shared file mappings hold reaches the files */
	if (boot_info->tsc_main && boot_info->tsc_khz)
		kprintf("hermit: boot to main %lu us\n",
			(unsigned long)((boot_info->tsc_main - boot_info->tsc_entry) * 1000 / boot_info->tsc_khz));
	kprintf("hermit: exit status %d\n", code);
	arch_hypercall(HC_EXIT, &e);
	arch_halt();
}

/* The default action of a fatal signal: end like a killed Linux process. */
noreturn void kernel_die_signal(int sig)
{
	static char msg[64];
	struct hc_write w;
	const char *name = sig > 0 && sig < 32 && signal_names[sig] ? signal_names[sig] : "signal";

	int n = ksnprintf(msg, sizeof(msg), "hermit: killed by signal %d (%s)\n", sig, name);
	w = (struct hc_write){ .fd = 2, .buf = (uint64_t)msg, .len = (uint64_t)n };
	arch_hypercall(HC_WRITE, &w);
	kernel_exit(128 + sig);
}

/* A start-up failure the user must read: one line on the loader's stderr too (the
 * kernel log shows only with HERMIT_VERBOSE=1), then status 127 like a failed exec. */
noreturn void kernel_fail(const char *line)
{
	struct hc_write w = { .fd = 2, .buf = (uint64_t)line, .len = strlen(line) };

	kprintf("%s", line);
	arch_hypercall(HC_WRITE, &w);
	kernel_exit(127);
}
