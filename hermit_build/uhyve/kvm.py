"""The parts of the Linux KVM API that uhyve uses: ioctl numbers, exit reasons, layouts.

Numbers follow the kernel's `_IOC` encoding (see Documentation/virt/kvm/api.rst);
struct layouts are `struct.Struct` objects over the x86_64 uapi structs.
"""

import struct

API_VERSION = 12
DEVICE = "/dev/kvm"

_IOC_WRITE = 1
_IOC_READ = 2
_KVMIO = 0xAE


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (_KVMIO << 8) | nr


def _io(nr: int) -> int:
    return _ioc(0, nr, 0)


def _ior(nr: int, size: int) -> int:
    return _ioc(_IOC_READ, nr, size)


def _iow(nr: int, size: int) -> int:
    return _ioc(_IOC_WRITE, nr, size)


def _iowr(nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, size)


# struct kvm_regs: rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags (all u64).
REGS = struct.Struct("<18Q")
REG_NAMES = tuple(
    "rax rbx rcx rdx rsi rdi rsp rbp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags".split()
)
REG = {name: i for i, name in enumerate(REG_NAMES)}

# struct kvm_segment: base, limit, selector, type, present, dpl, db, s, l, g, avl,
# unusable, padding.
SEGMENT = struct.Struct("<QIHBBBBBBBBBx")
# Flat segments' kvm_segment fields after base, limit and selector: type, present,
# dpl, db, s, l, g, avl, unusable.
SEG_CODE64 = (11, 1, 0, 0, 1, 1, 1, 0, 0)  # execute/read, accessed, long mode
SEG_DATA = (3, 1, 0, 1, 1, 0, 1, 0, 0)  # read/write, accessed, D/B=1
SEG_TSS_BUSY = (11, 1, 0, 0, 0, 0, 0, 0, 0)  # a 64-bit TSS, busy (what ltr leaves)
# struct kvm_dtable: base, limit, padding[3].
DTABLE = struct.Struct("<QH6x")
# struct kvm_sregs: cs ds es fs gs ss tr ldt (segments), gdt idt (dtables),
# cr0 cr2 cr3 cr4 cr8 efer apic_base, interrupt_bitmap[4].
SREGS_SIZE = 8 * SEGMENT.size + 2 * DTABLE.size + 7 * 8 + 4 * 8
SREG_SEGMENTS = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")
SREG_SEGMENT_OFF = {name: i * SEGMENT.size for i, name in enumerate(SREG_SEGMENTS)}
SREG_GDT_OFF = 8 * SEGMENT.size
SREG_IDT_OFF = SREG_GDT_OFF + DTABLE.size
SREG_CONTROL_OFF = SREG_IDT_OFF + DTABLE.size
SREG_CONTROL = struct.Struct("<7Q")  # cr0 cr2 cr3 cr4 cr8 efer apic_base

# struct kvm_userspace_memory_region: slot, flags, guest_phys_addr, memory_size,
# userspace_addr.
MEMORY_REGION = struct.Struct("<IIQQQ")

# struct kvm_cpuid2 header (nent, padding) and struct kvm_cpuid_entry2:
# function, index, flags, eax, ebx, ecx, edx, padding[3].
CPUID2 = struct.Struct("<II")
CPUID_ENTRY = struct.Struct("<7I12x")
MAX_CPUID_ENTRIES = 4096

# System ioctls (on the /dev/kvm fd).
GET_API_VERSION = _io(0x00)
CREATE_VM = _io(0x01)
CHECK_EXTENSION = _io(0x03)
CAP_TSC_DEADLINE_TIMER = 72
CAP_SYNC_REGS = 74  # the mask of register sets KVM_RUN can store in the run area
GET_VCPU_MMAP_SIZE = _io(0x04)
GET_SUPPORTED_CPUID = _iowr(0x05, CPUID2.size)
# VM ioctls.
CREATE_VCPU = _io(0x41)
SET_USER_MEMORY_REGION = _iow(0x46, MEMORY_REGION.size)
SET_TSS_ADDR = _io(0x47)
CREATE_IRQCHIP = _io(0x60)
# vCPU ioctls.
RUN = _io(0x80)
GET_REGS = _ior(0x81, REGS.size)
SET_REGS = _iow(0x82, REGS.size)
GET_SREGS = _ior(0x83, SREGS_SIZE)
# struct kvm_fpu: fpr[8][16], fcw, fsw, ftwx, pad, last_opcode, last_ip, last_dp,
# xmm[16][16], mxcsr, pad (the GDB server's FPU and SSE registers).
FPU = struct.Struct("<128sHHBxHQQ256sI4x")
GET_FPU = _ior(0x8C, FPU.size)
SET_SREGS = _iow(0x84, SREGS_SIZE)
MSRS = struct.Struct("<II")  # struct kvm_msrs: nmsrs, pad; then the entries
MSR_ENTRY = struct.Struct("<IIQ")  # index, reserved, data
GET_MSRS = _iowr(0x88, MSRS.size)
SET_MSRS = _iow(0x89, MSRS.size)
MSR_TSC = 0x10
MSR_STAR = 0xC0000081
MSR_LSTAR = 0xC0000082
MSR_FMASK = 0xC0000084
MSR_GS_BASE = 0xC0000101
MSR_KERNEL_GS_BASE = 0xC0000102
SET_CPUID2 = _iow(0x90, CPUID2.size)
GET_MP_STATE = _ior(0x98, 4)
SET_MP_STATE = _iow(0x99, 4)
MP_STATE_RUNNABLE = 0
GET_TSC_KHZ = _io(0xA3)

MP_STATE_HALTED = 3

# struct kvm_run (the mmap of a vCPU fd).
RUN_IMMEDIATE_EXIT = 1  # u8
RUN_EXIT_REASON = 8  # u32
RUN_EXIT_DATA = 32  # the union of exit details
RUN_IO = struct.Struct("<BBHIQ")  # direction, size, port, count, data_offset
RUN_MMIO = struct.Struct("<Q8sIB")  # phys_addr, data, len, is_write
RUN_U32X2 = struct.Struct("<II")  # internal: suberror, ndata
RUN_U64 = struct.Struct("<Q")
EXIT_IO_IN = 0
EXIT_IO_OUT = 1

EXIT_UNKNOWN = 0
EXIT_EXCEPTION = 1
EXIT_IO = 2
EXIT_HYPERCALL = 3
EXIT_DEBUG = 4
EXIT_HLT = 5
EXIT_MMIO = 6
EXIT_SHUTDOWN = 8
EXIT_FAIL_ENTRY = 9
EXIT_INTR = 10
EXIT_INTERNAL_ERROR = 17
EXIT_SYSTEM_EVENT = 24

EXIT_NAMES = {
    EXIT_UNKNOWN: "UNKNOWN",
    EXIT_EXCEPTION: "EXCEPTION",
    EXIT_IO: "IO",
    EXIT_HYPERCALL: "HYPERCALL",
    EXIT_DEBUG: "DEBUG",
    EXIT_HLT: "HLT",
    EXIT_MMIO: "MMIO",
    EXIT_SHUTDOWN: "SHUTDOWN",
    EXIT_FAIL_ENTRY: "FAIL_ENTRY",
    EXIT_INTR: "INTR",
    EXIT_INTERNAL_ERROR: "INTERNAL_ERROR",
    EXIT_SYSTEM_EVENT: "SYSTEM_EVENT",
}

# x86 architectural bits used to enter long mode directly.
CR0_PE = 1 << 0
CR0_MP = 1 << 1
CR0_ET = 1 << 4
CR0_NE = 1 << 5
CR0_WP = 1 << 16
CR0_PG = 1 << 31
CR4_PAE = 1 << 5
CR4_OSFXSR = 1 << 9
CR4_OSXMMEXCPT = 1 << 10
EFER_SCE = 1 << 0
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
RFLAGS_RESERVED = 1 << 1
RFLAGS_IF = 1 << 9

PTE_PRESENT = 1 << 0
PTE_WRITABLE = 1 << 1
PTE_USER = 1 << 2  # kvm_pvm runs supervisor code natively only on user-accessible pages
PTE_PWT = 1 << 3
PTE_PCD = 1 << 4  # with PWT: uncached (the APIC's registers)
PTE_HUGE = 1 << 7
LAPIC_BASE = 0xFEE00000
IOAPIC_BASE = 0xFEC00000

# The TSS the VMX backend needs somewhere in guest-physical space (3 pages), far
# above any RAM we map (RAM stays below 3 GiB for now).
TSS_ADDR = 0xFFFBD000


def c_int(value: int) -> int:
    """A 32-bit ioctl argument as the signed C int that `fcntl.ioctl` accepts.

    KVM_SET_TSS_ADDR's handler truncates its argument to 32 bits unsigned.
    """
    return value - (1 << 32) if value >= 1 << 31 else value
