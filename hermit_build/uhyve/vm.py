"""One KVM virtual machine: guest RAM (from GPA 0, and from 4 GiB for large sizes), the
image in it, the boot structures."""

import _thread
import ctypes
import errno
import mmap
import os
import struct
import threading
from fcntl import ioctl

from .. import memlayout
from ..abi import C, S
from ..config import check_mem
from ..elfload import Image, mib
from ..guestmem import GuestMemory
from . import kvm
from .errors import UhyveError

MAP_NORESERVE = 0x4000  # Linux value; Python's mmap module does not export it before 3.13
QEMU_HINT = "run with HERMIT_ISLE=qemu"

_GDT = struct.Struct("<3Q")
_U64 = struct.Struct("<Q")
GDT_CODE64 = 0x00AF9A000000FFFF  # present, ring 0, execute/read, long mode, 4 KiB granular
GDT_DATA = 0x00CF92000000FFFF  # present, ring 0, read/write, 32-bit default, 4 KiB granular
HUGE_PAGE = 2 << 20
PAGE = 4096


def open_kvm(path: str = kvm.DEVICE) -> int:
    """Open the KVM device and check its API version; UhyveError says what is wrong."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UhyveError(
            f"no usable {path} (not found): load kvm_intel or kvm_amd (or enable nested "
            f"virtualisation), or {QEMU_HINT}"
        ) from None
    except PermissionError:
        raise UhyveError(
            f"no usable {path} (permission denied): add yourself to group kvm, or {QEMU_HINT}"
        ) from None
    except OSError as e:
        raise UhyveError(f"no usable {path} ({e.strerror}): {QEMU_HINT}") from None
    try:
        version = ioctl(fd, kvm.GET_API_VERSION)
    except OSError as e:
        os.close(fd)
        raise UhyveError(
            f"no usable {path} (not a KVM device: {e.strerror}): {QEMU_HINT}"
        ) from None
    if version != kvm.API_VERSION:
        os.close(fd)
        raise UhyveError(
            f"no usable {path} (KVM API version {version}, uhyve needs {kvm.API_VERSION}): "
            f"{QEMU_HINT}"
        )
    return fd


def _check(fd: int, request: int, arg: int | bytes | bytearray, what: str) -> int:
    """An ioctl whose failure means this host cannot run the guest."""
    try:
        return ioctl(fd, request, arg)
    except OSError as e:
        raise UhyveError(f"KVM {what} failed ({e.strerror}): {QEMU_HINT}") from None


class Vm:
    """The VM file descriptor, its in-kernel interrupt controllers and its RAM.

    RAM is one host mapping (lazily backed: MAP_NORESERVE) registered as one KVM
    memory slot per guest block: [0, mem_low) and, above 3 GiB of RAM, the rest
    from 4 GiB (memlayout).  Registering costs a fixed ~7 ms per slot (an SRCU
    grace period), so a helper thread does it while the caller goes on (loading the
    image, creating vCPUs); `ready()` waits for it before the first KVM_RUN.
    """

    def __init__(self, mem_size: int, device: str = kvm.DEVICE):
        check_mem(mem_size)
        self.wake: list[threading.Event] = []  # per vCPU: ends its IDLE hypercall
        self.mem_size = mem_size
        self.mem_low, self.mem_high = memlayout.uhyve_split(mem_size)
        self.fd = -1
        self.ram: mmap.mmap | None = None
        self._cpuid: list[tuple[int, ...]] | None = None
        self._registering: threading.Event | None = None
        self._register_error = ""
        self.kvm_fd = open_kvm(device)
        try:
            self._create(mem_size, device)
        except BaseException:
            self.close()
            raise

    def _create(self, mem_size: int, device: str) -> None:
        try:
            self.fd = ioctl(self.kvm_fd, kvm.CREATE_VM, 0)
        except OSError as e:
            hint = "is another hypervisor running? " if e.errno == errno.EBUSY else ""
            raise UhyveError(
                f"no usable {device} (KVM_CREATE_VM: {e.strerror}): {hint}{QEMU_HINT}"
            ) from None
        os.set_inheritable(self.fd, False)
        _check(self.fd, kvm.SET_TSS_ADDR, kvm.c_int(kvm.TSS_ADDR), "KVM_SET_TSS_ADDR")
        _check(self.fd, kvm.CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP")
        try:
            self.ram = mmap.mmap(-1, mem_size, mmap.MAP_SHARED | MAP_NORESERVE)
        except OSError as e:
            raise UhyveError(
                f"cannot map {mib(mem_size)} of guest memory ({e.strerror}): lower HERMIT_MEM"
            ) from None
        anchor = ctypes.c_char.from_buffer(self.ram)
        host_addr = ctypes.addressof(anchor)
        del anchor  # the mapping outlives the ctypes view; drop the buffer export
        blocks = memlayout.regions(self.mem_low, self.mem_high)
        self.mem = GuestMemory([(gpa, size, self.ram, off) for gpa, size, off in blocks])
        self.run_size = _check(self.kvm_fd, kvm.GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE")
        slots = [kvm.MEMORY_REGION.pack(slot, 0, gpa, size, host_addr + off)
                 for slot, (gpa, size, off) in enumerate(blocks)]
        done = threading.Event()
        _thread.start_new_thread(self._register, (slots, done))
        self._registering = done

    def _register(self, slots: list[bytes], done: threading.Event) -> None:
        try:
            for region in slots:
                ioctl(self.fd, kvm.SET_USER_MEMORY_REGION, region)
        except OSError as e:
            self._register_error = e.strerror or str(e)
        finally:
            done.set()

    def _wait_registered(self) -> None:
        # An Event, not a lock: Ctrl-C between a lock's acquire and the next line left
        # it held, and close() then waited for it forever.
        if self._registering is not None:
            self._registering.wait()  # may raise KeyboardInterrupt: then wait again later
            self._registering = None

    def ready(self) -> None:
        """Wait until guest RAM is registered with KVM; UhyveError if that failed."""
        self._wait_registered()
        if self._register_error:
            raise UhyveError(
                f"KVM_SET_USER_MEMORY_REGION failed ({self._register_error}): {QEMU_HINT}"
            )

    def supported_cpuid(self) -> list[tuple[int, ...]]:
        """KVM's CPUID entries: (function, index, flags, eax, ebx, ecx, edx) each."""
        if self._cpuid is None:
            nent = 128
            while True:
                buf = bytearray(kvm.CPUID2.size + nent * kvm.CPUID_ENTRY.size)
                kvm.CPUID2.pack_into(buf, 0, nent, 0)
                try:
                    ioctl(self.kvm_fd, kvm.GET_SUPPORTED_CPUID, buf)
                    break
                except OSError as e:
                    if e.errno != errno.E2BIG or nent >= kvm.MAX_CPUID_ENTRIES:
                        raise UhyveError(
                            f"KVM_GET_SUPPORTED_CPUID failed ({e.strerror}): {QEMU_HINT}"
                        ) from None
                    nent *= 2
            count = kvm.CPUID2.unpack_from(buf)[0]
            self._cpuid = [
                kvm.CPUID_ENTRY.unpack_from(buf, kvm.CPUID2.size + i * kvm.CPUID_ENTRY.size)
                for i in range(count)
            ]
        return self._cpuid

    def load(self, image: Image) -> None:
        """Copy the PT_LOAD segments to their physical addresses (RAM is fresh: zero).
        elfload.check() placed them inside guest RAM before the VM was made."""
        assert self.ram is not None
        for seg in image.segments:
            if seg.filesz:
                self.ram[seg.paddr : seg.paddr + seg.filesz] = seg.data

    def write_boot_tables(self) -> None:
        """GDT (null, code 0x08, data 0x10) and the identity map the kernel keeps
        (boot_info.page_tables; arch/x86/paging.c builds the same under QEMU): RAM in
        2 MiB pages, the first 2 MiB in 4 KiB pages without page 0, the LAPIC and
        IOAPIC uncached.  A page directory per GiB at BOOT_PD_ADDR + GiB * 4 KiB, so
        the entry of every 2 MiB page sits at BOOT_PD_ADDR + (address >> 21) * 8."""
        ram = self.ram
        assert ram is not None
        _GDT.pack_into(ram, C.BOOT_GDT_ADDR, 0, GDT_CODE64, GDT_DATA)
        table = kvm.PTE_PRESENT | kvm.PTE_WRITABLE | kvm.PTE_USER
        leaf = table | kvm.PTE_HUGE
        _U64.pack_into(ram, C.BOOT_PML4_ADDR, C.BOOT_PDPT_ADDR | table)
        gibs = set()
        for start, size, _ in memlayout.regions(self.mem_low, self.mem_high):
            end = -(-(start + size) // HUGE_PAGE) * HUGE_PAGE
            n = (end - start) // HUGE_PAGE
            struct.pack_into(f"<{n}Q", ram, C.BOOT_PD_ADDR + (start >> 21) * 8,
                             *range(start | leaf, end, HUGE_PAGE))
            gibs.update(range(start >> 30, (end - 1 >> 30) + 1))
        for mmio in (kvm.LAPIC_BASE, kvm.IOAPIC_BASE):
            _U64.pack_into(ram, C.BOOT_PD_ADDR + (mmio >> 21) * 8,
                           mmio | leaf | kvm.PTE_PWT | kvm.PTE_PCD)
            gibs.add(mmio >> 30)
        assert max(gibs) < C.BOOT_PD_GIBS, "beyond the page directories' room"
        for g in gibs:
            _U64.pack_into(ram, C.BOOT_PDPT_ADDR + g * 8, (C.BOOT_PD_ADDR + g * PAGE) | table)
        # the first 2 MiB in 4 KiB pages: page 0 absent, so null pointers fault
        struct.pack_into("<511Q", ram, C.BOOT_PT_ADDR + 8, *range(PAGE | table, HUGE_PAGE, PAGE))
        _U64.pack_into(ram, C.BOOT_PD_ADDR, C.BOOT_PT_ADDR | table)

    def write_boot_info(self, cpus: int, tsc_khz: int, tty: int, uart_port: int,
                        pvm: bool = False, loader_events: bool = False, trace: bool = False,
                        stats: bool = False, net: dict[str, int] | None = None,
                        cpu_ready: bool = False) -> None:
        """The loader's half of the boot-info block; kernel-owned fields stay 0.  net:
        boot_info.net_* (a static address), else DHCP."""
        info = S.boot_info.pack(
            magic=C.BOOT_INFO_MAGIC,
            abi_version=C.ABI_VERSION,
            loader=C.LOADER_UHYVE,
            mem_size=self.mem_low,
            mem_high=self.mem_high,
            cpus=cpus,
            tsc_khz=tsc_khz,
            tty=tty,
            uart_port=uart_port,
            pvm=int(pvm),
            loader_events=int(loader_events),
            trace=int(trace),
            stats=int(stats),
            page_tables=C.BOOT_PML4_ADDR,
            cpu_ready=int(cpu_ready),
            **(net or {}),
        )
        self.mem.write(C.BOOT_INFO_ADDR, info)

    def close(self) -> None:
        self._wait_registered()
        if self.ram is not None:
            try:
                self.ram.close()
            except BufferError:  # a caller still holds a view: the GC unmaps it later
                pass
            self.ram = None
        for fd in (self.fd, self.kvm_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.kvm_fd = -1
