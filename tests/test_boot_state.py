"""uhyve sets up what the kernel's boot would (its identity map, each cpu's control,
segment and descriptor-table registers and system call MSRs) before the first
instruction, because each privileged instruction is a trap on kvm_pvm.  The kernel's
own set-up stays for QEMU and for a KVM that refuses part of it: both ways must leave
the cpus in the same state."""

import struct

import pytest

from hermit_build import elfload
from hermit_build.abi import C
from hermit_build.abi.spec import STRINGS
from hermit_build.config import RunConfig
from hermit_build.uhyve import cpustate, kvm
from hermit_build.uhyve import run as uhyve_run
from hermit_build.uhyve.vcpu import Vcpu
from hermit_build.uhyve.vm import Vm

MSRS = (kvm.MSR_STAR, kvm.MSR_LSTAR, kvm.MSR_FMASK, kvm.MSR_GS_BASE, kvm.MSR_KERNEL_GS_BASE)


def test_the_image_says_where_its_tables_are(sdk):
    cpu = elfload.load(str(sdk / "extra/tests/hello")).cpu_state
    assert cpu is not None
    assert (cpu.cs, cpu.ds, cpu.tr) == (0x10, 0x18, 0x40)  # Linux's, as kvm_pvm needs
    assert cpu.idt_size == 256 * 16 and cpu.gdt_size % 8 == 0 and cpu.tss_size == 104
    assert C.KERNEL_BASE <= cpu.syscall_entry < cpu.percpu < cpu.idt
    assert cpu.gdt_off + cpu.gdt_size <= cpu.percpu_size
    assert cpu.fmask & 0x200  # IF cleared on entry


def test_a_malformed_cpu_note_is_not_used():
    name = STRINGS["NOTE_NAME"].encode() + b"\0"
    head = struct.pack("<III", len(name), 8, C.NOTE_CPU_STATE) + name.ljust(8, b"\0")
    notes = head + bytes(8)
    assert elfload.hermit_notes(notes, 0, len(notes)) == {C.NOTE_CPU_STATE: bytes(8)}
    assert elfload.hermit_notes(notes, 0, len(notes) - 1) == {}  # truncated


def boot(monkeypatch, image: str, cpus: int, loader_state: bool) -> list[tuple]:
    """Run `image` under uhyve; each vCPU's registers as the guest left them."""
    seen: list[tuple] = []
    close = Vcpu.close

    def record(self):
        sregs = bytearray(kvm.SREGS_SIZE)
        from fcntl import ioctl

        ioctl(self.fd, kvm.GET_SREGS, sregs)
        msrs = cpustate.msrs_struct([(m, 0) for m in MSRS])
        ioctl(self.fd, kvm.GET_MSRS, msrs)
        values = tuple(kvm.MSR_ENTRY.unpack_from(msrs, kvm.MSRS.size + i * kvm.MSR_ENTRY.size)[2]
                       for i in range(len(MSRS)))
        seg = {n: kvm.SEGMENT.unpack_from(sregs, kvm.SREG_SEGMENT_OFF[n])
               for n in ("cs", "ds", "ss", "tr")}
        control = kvm.SREG_CONTROL.unpack_from(sregs, kvm.SREG_CONTROL_OFF)
        seen.append((self.index,
                     seg["cs"][2], seg["ds"][2], seg["ss"][2], seg["tr"][:3],
                     kvm.DTABLE.unpack_from(sregs, kvm.SREG_GDT_OFF),
                     kvm.DTABLE.unpack_from(sregs, kvm.SREG_IDT_OFF),
                     control[0], control[3], control[5] & kvm.EFER_SCE, values))
        close(self)

    monkeypatch.setattr(Vcpu, "close", record)
    if not loader_state:  # as where KVM refuses a register: the kernel loads them all
        monkeypatch.setattr(Vcpu, "_kernel_state", lambda self, boot, cpu: False)
    status = uhyve_run(RunConfig(image=image, argv=[image], timeout=60, cpus=cpus),
                       elfload.load(image))
    assert status == 0
    return sorted(seen)


@pytest.mark.parametrize("cpus", [1, 2])
def test_the_loader_leaves_the_cpus_as_the_kernel_would(sdk, kvm_loader, monkeypatch, capfd,
                                                        cpus):
    image = str(sdk / "extra/tests/thr_hello")
    by_kernel = boot(monkeypatch, image, cpus, loader_state=False)
    monkeypatch.undo()
    by_loader = boot(monkeypatch, image, cpus, loader_state=True)
    assert len(by_loader) == cpus
    assert by_loader == by_kernel
    assert capfd.readouterr().out.count("thr_hello: ok") == 2


@pytest.mark.parametrize("gib", [3, 5])
def test_the_page_tables_are_the_kernels(kvm_loader, gib):
    """The map uhyve hands over: all RAM present, writable and user-accessible except
    page 0, the LAPIC and IOAPIC uncached, the hole and what lies beyond RAM absent
    (the kernel keeps it; null pointers still fault: test_crash)."""
    vm = Vm(gib << 30)
    try:
        vm.write_boot_tables()
        mem = vm.mem

        def lookup(addr: int) -> tuple[int, int]:
            """(entry, size of the page) mapping addr; entry 0 when absent."""
            table, size = C.BOOT_PML4_ADDR, 1 << 39
            while True:
                e = mem.read_u64(table + (addr // size % 512) * 8)
                if not e & 1:
                    return 0, size
                if size == 1 << 12 or e & 0x80:
                    return e, size
                table, size = e & 0xFFFFFFFFFF000, size >> 9

        assert lookup(0)[0] == 0
        ram = [0x1000, 0x5000, C.KERNEL_BASE, 0x1234_5000, (3 << 30) - 4096]
        if gib > 3:
            ram += [4 << 30, ((gib + 1) << 30) - 4096]
        for addr in ram:
            e, size = lookup(addr)
            assert e & 0x7 == 0x7, hex(addr)  # present, writable, user
            assert e & 0xFFFFFFFFFF000 & ~(size - 1) == addr & ~(size - 1), hex(addr)
        for mmio in (0xFEE00000, 0xFEC00000):
            assert lookup(mmio)[0] & 0x19 == 0x19  # present, PCD, PWT
        assert lookup(0xF0000000)[0] == 0  # the hole
        assert lookup((gib + 1 if gib > 3 else 4) << 30)[0] == 0  # past RAM
    finally:
        vm.close()
