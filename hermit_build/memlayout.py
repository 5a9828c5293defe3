"""Where guest RAM of a given size lies in guest-physical memory (both loaders).

RAM starts at GPA 0; a machine keeps at most `lowmem_split` bytes below the 32-bit
hole (LAPIC, IOAPIC, firmware) once RAM reaches `lowmem_limit`, and the rest starts
at C.HIGH_MEM_BASE (4 GiB).  The kernel learns the two sizes from boot_info
(`mem_size`, `mem_high`).
"""

from .abi import C

GIB = 1 << 30

# uhyve has no firmware: 3 GiB stay low, as on microvm, leaving the hole free for the
# LAPIC (0xfee00000), the IOAPIC (0xfec00000) and KVM's TSS pages (0xfffbd000).
UHYVE_LOWMEM = 3 * GIB


def split(mem: int, lowmem_limit: int, lowmem_split: int) -> tuple[int, int]:
    """(bytes from GPA 0, bytes from HIGH_MEM_BASE) of `mem` bytes of RAM."""
    low = lowmem_split if mem >= lowmem_limit else mem
    return low, mem - low


def uhyve_split(mem: int) -> tuple[int, int]:
    return split(mem, UHYVE_LOWMEM + 1, UHYVE_LOWMEM)


def regions(low: int, high: int) -> list[tuple[int, int, int]]:
    """(GPA, size, offset in one host buffer of low + high bytes) of each RAM block."""
    blocks = [(0, low, 0)]
    if high:
        blocks.append((C.HIGH_MEM_BASE, high, low))
    return blocks


def describe(low: int, high: int) -> str:
    """The layout for messages, e.g. "0-0xc0000000 and 0x100000000-0x240000000"."""
    text = f"{0:#x}-{low:#x}"
    if high:
        text += f" and {C.HIGH_MEM_BASE:#x}-{C.HIGH_MEM_BASE + high:#x}"
    return text
