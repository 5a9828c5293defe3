/* The other cpus: they start (uhyve starts every vCPU at the image entry) and
 * wait until the first has set up the kernel, then run threads from the shared
 * run queues in their idle loops. */
#include <hermit/task.h>

volatile uint32_t cpus_online = 1;
volatile uint64_t cpus_online_mask = 1; /* where tasks may be queued */
volatile uint32_t aps_alive; /* application processors that reached ap_main */
static volatile int released;

/* Let the other cpus in and wait until they run their idle loops: the application
 * starts with every cpu in its affinity mask (sched_getaffinity, sysconf). */
void smp_release(void)
{
	uint64_t give_up = time_monotonic_ns() + 2000000000ULL;

	__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE) < boot_info->cpus &&
	       time_monotonic_ns() < give_up)
		arch_relax();
	if (cpus_online < boot_info->cpus)
		kprintf("hermit: only %u of %u cpus came online\n", (unsigned)cpus_online,
			(unsigned)boot_info->cpus);
}

noreturn void ap_main(uint32_t id, uint64_t stack_top);

noreturn void ap_main(uint32_t id, uint64_t stack_top)
{
	arch_pvm_native(id); /* before spinning: emulated, the wait would cost ~5k cycles a turn */
	__atomic_add_fetch(&aps_alive, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&released, __ATOMIC_ACQUIRE))
		arch_relax();
	kernel_lock();
	arch_paging_load(); /* the kernel's page tables (the APIC is mapped there) */
	arch_init_cpu(id, stack_top);
	arch_init_late();
	struct task *idle = task_create_idle();
	idle->kstack_top = stack_top; /* this boot context is the idle task */
	idle->cpu = id;
	this_cpu()->idle = idle;
	current = idle;
	__atomic_add_fetch(&cpus_online, 1, __ATOMIC_RELEASE);
	__atomic_or_fetch(&cpus_online_mask, 1ULL << id, __ATOMIC_RELEASE);
	kprintf("hermit: cpu %u online\n", id);
	idle_loop();
}
