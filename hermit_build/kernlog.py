"""Read what the guest left in guest memory: its kernel log and boot timestamps."""

from .abi import C, S
from .guestmem import GuestFault, GuestMemory


def boot_info(mem: GuestMemory) -> dict[str, int] | None:
    try:
        info = S.boot_info.unpack(mem.view(C.BOOT_INFO_ADDR, S.boot_info.size))
    except GuestFault:
        return None
    return info if info["magic"] == C.BOOT_INFO_MAGIC else None


def kernel_log(mem: GuestMemory) -> str:
    """The kernel's log ring buffer, oldest byte first ("" if the kernel set none up)."""
    info = boot_info(mem)
    if not info or not info["log_addr"]:
        return ""
    size, head = C.LOG_SIZE, info["log_head"]
    try:
        ring = mem.read(info["log_addr"], size)
    except GuestFault:
        return ""
    data = ring[: head] if head <= size else ring[head % size :] + ring[: head % size]
    return data.decode(errors="replace")


def boot_to_main_us(mem: GuestMemory) -> float | None:
    """Microseconds from the first kernel instruction to the application's entry."""
    info = boot_info(mem)
    if not info or not info["tsc_main"] or not info["tsc_khz"]:
        return None
    return (info["tsc_main"] - info["tsc_entry"]) * 1000.0 / info["tsc_khz"]
