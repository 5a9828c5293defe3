"""The registers the kernel's arch_init_cpu would load, loaded by uhyve before boot.

Each privileged instruction is a trap of ~30 us on kvm_pvm, and a cpu's set-up takes
about twenty (lgdt, segment loads, ltr, lidt, CR0, six MSRs...).  The image says where
its tables are (NOTE_CPU_STATE, elfload.CpuState); the kernel still fills them in
memory and skips the loads when boot_info.cpu_ready is 1.  What CPUID decides (CR4's
OSXSAVE and FSGSBASE, XCR0) stays the kernel's: under kvm_pvm the guest's cpuid is the
host cpu's, not the table the loader gives KVM.
"""

from ..elfload import CpuState
from . import kvm


def apply(sregs: bytearray, cpu: CpuState, index: int) -> list[tuple[int, int]]:
    """Put vCPU `index`'s kernel state into `sregs` (a struct kvm_sregs in long mode);
    return the MSRs to set, as (index, value)."""
    base = cpu.percpu + index * cpu.percpu_size
    seg = kvm.SEGMENT
    seg.pack_into(sregs, kvm.SREG_SEGMENT_OFF["cs"], 0, 0xFFFFFFFF, cpu.cs, *kvm.SEG_CODE64)
    for name in ("ds", "es", "ss"):
        seg.pack_into(sregs, kvm.SREG_SEGMENT_OFF[name], 0, 0xFFFFFFFF, cpu.ds, *kvm.SEG_DATA)
    gs = list(seg.unpack_from(sregs, kvm.SREG_SEGMENT_OFF["gs"]))
    gs[0] = base
    seg.pack_into(sregs, kvm.SREG_SEGMENT_OFF["gs"], *gs)
    seg.pack_into(sregs, kvm.SREG_SEGMENT_OFF["tr"], base + cpu.tss_off, cpu.tss_size - 1,
                  cpu.tr, *kvm.SEG_TSS_BUSY)
    kvm.DTABLE.pack_into(sregs, kvm.SREG_GDT_OFF, base + cpu.gdt_off, cpu.gdt_size - 1)
    kvm.DTABLE.pack_into(sregs, kvm.SREG_IDT_OFF, cpu.idt, cpu.idt_size - 1)
    control = list(kvm.SREG_CONTROL.unpack_from(sregs, kvm.SREG_CONTROL_OFF))
    control[5] |= kvm.EFER_SCE
    kvm.SREG_CONTROL.pack_into(sregs, kvm.SREG_CONTROL_OFF, *control)
    return [(kvm.MSR_STAR, cpu.star), (kvm.MSR_LSTAR, cpu.syscall_entry),
            (kvm.MSR_FMASK, cpu.fmask), (kvm.MSR_GS_BASE, base),
            (kvm.MSR_KERNEL_GS_BASE, base)]


def msrs_struct(msrs: list[tuple[int, int]]) -> bytearray:
    """struct kvm_msrs with its entries."""
    buf = bytearray(kvm.MSRS.pack(len(msrs), 0))
    for index, value in msrs:
        buf += kvm.MSR_ENTRY.pack(index, 0, value)
    return buf
