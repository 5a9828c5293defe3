/* The other cpus: they start (uhyve starts every vCPU at the image entry) and
 * wait until the first has set up the kernel, then run threads from the shared
 * run queue in their idle loops. */
#include <hermit/task.h>

volatile uint32_t cpus_online = 1;
volatile uint32_t aps_alive; /* application processors that reached ap_main */
static volatile int released;

void smp_release(void)
{
	__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
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
	this_cpu()->idle = idle;
	current = idle;
	__atomic_add_fetch(&cpus_online, 1, __ATOMIC_RELEASE);
	kprintf("hermit: cpu %u online\n", id);
	idle_loop();
}
