/*
 * Hypercalls: the argument is always the guest-physical (= virtual) address of
 * a struct from <hermit/abi.h>.  uhyve: one `rep outsl` of the 8-byte address
 * to port HC_PORT_BASE + nr (a single VM exit).  QEMU: a 10-byte frame on the
 * hypercall UART, then wait for the runner's acknowledgement.
 */
#include <hermit/task.h>
#include <hermit/trace.h>
#include <asm/x86.h>

#define UART_LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

static void uart_put(uint16_t port, uint8_t c)
{
	/* uhyve's UART is always ready: skip the status read (a VM exit each). */
	while (boot_info->loader != HERMIT_LOADER_UHYVE && !(inb(port + UART_LSR) & LSR_THR_EMPTY))
		__asm__ volatile("pause");
	outb(port, c);
}

/* The loaders read each call from this cpu's slot: uhyve on the `outl` (one VM
 * exit), QEMU's runner on a doorbell byte; the runner then sets `done` to the
 * call's `seq` (hermit_build/abi/spec.py: why a number and not a flag). */
static volatile struct hc_slot mailbox[HERMIT_HC_MAILBOX_SLOTS];
/* the loader's poller answers in a few us when it runs; an exit costs ~35 us on kvm_pvm */
#define POLL_PATIENCE_US 20
static int doorbell_busy;

void arch_hypercall_init(void)
{
	boot_info->hc_mailbox = (uint64_t)mailbox;
}

static void uhyve_ring(uint32_t slot, unsigned nr)
{
	__asm__ volatile("outl %0, %1"
			 :
			 : "a"(slot), "Nd"((uint16_t)(HERMIT_HC_MAILBOX_PORT_BASE + nr))
			 : "memory");
}

/* Tell the loader a call waits in `slot`: uhyve's `outl` (one VM exit, answered
 * within it unless the poller took the call), QEMU's doorbell byte. */
static void ring(uint32_t slot, unsigned nr)
{
	if (boot_info->loader == HERMIT_LOADER_UHYVE) {
		uhyve_ring(slot, nr);
		return;
	}
	/* cpus waiting for the host hold no kernel lock: one doorbell at a time, or
	 * a byte written while the UART is still busy with another is lost */
	while (__atomic_exchange_n(&doorbell_busy, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	uart_put(HERMIT_HC_UART_PORT, (uint8_t)(HERMIT_HC_DOORBELL | slot));
	__atomic_store_n(&doorbell_busy, 0, __ATOMIC_RELEASE);
}

static int hypercall(unsigned nr, void *arg)
{
	const uint32_t slot = this_cpu_id();
	volatile struct hc_slot *s = &mailbox[slot];
	const uint64_t seq = s->seq + 1; /* only this cpu writes its slot's seq */

	s->gpa = (uint64_t)arg;
	s->nr = nr;
	s->seq = seq; /* last: the loader reads it first, then the call it numbers */
	if (nr == HC_SYSCALL) {
		/* a file call while the loader's poller runs (hermit_build/poller.py) is
		 * taken from the slot by another host thread: no ring, no exit */
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* seq stored before the flag read */
		int rang = !__atomic_load_n(&boot_info->hc_poll, __ATOMIC_RELAXED);
		if (rang)
			ring(slot, nr);
		/* a poller the host preempted would hold us up for its time slice:
		 * ring after POLL_PATIENCE_US anyway (a ring is a hint: the call is
		 * served once, by whichever thread takes it first) */
		const uint64_t start = rdtsc();
		const uint64_t patience = boot_info->tsc_khz * POLL_PATIENCE_US / 1000;
		while (s->done != seq) {
			__asm__ volatile("pause" ::: "memory");
			if (!rang && rdtsc() - start > patience) {
				ring(slot, nr);
				rang = 1;
			}
		}
		return rang;
	}
	ring(slot, nr);
	if (boot_info->loader == HERMIT_LOADER_UHYVE)
		return 1; /* answered in the exit */
	while (s->done != seq) /* the answer comes through shared memory: no exits while waiting */
		__asm__ volatile("pause" ::: "memory");
	return 1;
}

int arch_hypercall(unsigned nr, void *arg)
{
	if (__builtin_expect(boot_info->stats != 0, 0)) /* HERMIT_STATS (kernel/stats.c) */
		return stats_hypercall(nr, arg, hypercall);
	return hypercall(nr, arg);
}

noreturn void arch_abi_mismatch(uint64_t version)
{
	static struct hc_exit e;
	uint64_t gpa = (uint64_t)&e;

	e.code = HERMIT_EXIT_ABI_MISMATCH | version;
	if (boot_info->magic == HERMIT_BOOT_INFO_MAGIC && boot_info->loader == HERMIT_LOADER_QEMU) {
		/* the PVH entry set both: a frame (u16 number, u64 address) every runner reads */
		uart_put(HERMIT_HC_UART_PORT, HC_EXIT & 0xff);
		uart_put(HERMIT_HC_UART_PORT, HC_EXIT >> 8);
		for (int i = 0; i < 8; i++)
			uart_put(HERMIT_HC_UART_PORT, (uint8_t)(gpa >> (8 * i)));
	} else {
		/* the ELF entry is uhyve's: `rep outsl` of the address, every uhyve's oldest form */
		const void *src = &gpa;
		unsigned long n = 2;
		__asm__ volatile("rep outsl"
				 : "+S"(src), "+c"(n)
				 : "d"((uint16_t)(HERMIT_HC_PORT_BASE + HC_EXIT))
				 : "memory");
	}
	arch_halt();
}

void arch_console_putc(char c)
{
	uint16_t port = (uint16_t)boot_info->uart_port;

	if (!port)
		return;
	if (c == '\n')
		uart_put(port, '\r');
	uart_put(port, (uint8_t)c);
}
