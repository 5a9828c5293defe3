/* PCI configuration space through the legacy ports 0xcf8/0xcfc (pc, q35): what
 * drivers/net/virtio_pci.c reads to find its device.  microvm has no PCI: the
 * reads there return all ones, which no driver takes for a device. */
#include <hermit/arch.h>
#include <asm/x86.h>

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static uint32_t address(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc);
}

uint32_t arch_pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	outl(PCI_ADDR, address(bus, dev, fn, off));
	return inl(PCI_DATA);
}

void arch_pci_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
	outl(PCI_ADDR, address(bus, dev, fn, off));
	outl(PCI_DATA, v);
}
