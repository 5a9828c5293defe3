/*
 * Hypercalls: the argument is always the guest-physical (= virtual) address of
 * a struct from <hermit/abi.h>.  uhyve: one `rep outsl` of the 8-byte address
 * to port HC_PORT_BASE + nr (a single VM exit).  QEMU: a 10-byte frame on the
 * hypercall UART, then wait for the runner's acknowledgement.
 */
#include <hermit/arch.h>
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

static void hypercall_uart(unsigned nr, uint64_t gpa)
{
	const uint16_t port = HERMIT_HC_UART_PORT;

	uart_put(port, nr & 0xff);
	uart_put(port, nr >> 8);
	for (int i = 0; i < 8; i++)
		uart_put(port, (uint8_t)(gpa >> (8 * i)));
	for (;;) {
		while (!(inb(port + UART_LSR) & LSR_DATA_READY))
			__asm__ volatile("pause");
		if (inb(port) == HERMIT_HC_ACK)
			return;
	}
}

/* uhyve reads the argument address from this cpu's slot: one VM exit per call. */
static volatile uint64_t mailbox[HERMIT_HC_MAILBOX_SLOTS];

void arch_hypercall_init(void)
{
	boot_info->hc_mailbox = (uint64_t)mailbox;
}

void arch_hypercall(unsigned nr, void *arg)
{
	uint64_t gpa = (uint64_t)arg;

	if (boot_info->loader == HERMIT_LOADER_UHYVE) {
		const uint32_t slot = 0; /* this cpu's; one cpu for now */
		mailbox[slot] = gpa;
		__asm__ volatile("outl %0, %1"
				 :
				 : "a"(slot), "Nd"((uint16_t)(HERMIT_HC_MAILBOX_PORT_BASE + nr))
				 : "memory");
	} else {
		hypercall_uart(nr, gpa);
	}
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
