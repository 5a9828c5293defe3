"""One virtual CPU: its boot state and the loop that serves its exits.

One thread per vCPU runs the loop and serves that vCPU's hypercalls itself (vCPU
0 on the main thread, where the interval timer's SIGALRM kicks it out of KVM_RUN).
"""

import mmap
import os
import struct
import threading
from fcntl import ioctl

from .. import memlayout
from ..abi import HC, C, S
from ..elfload import CpuState
from ..errors import say
from ..guestmem import GuestFault
from ..hostcalls import GuestError, HostServices
from . import cpustate, kvm
from .errors import UhyveError
from .events import Events
from .vm import Vm, _check

UART_PORT = C.COM1_PORT
UART_LSR = UART_PORT + 5
LSR_TX_EMPTY = 0x60  # transmitter holding register and shift register empty
HINT_LOG = "run with HERMIT_VERBOSE=1 to see the kernel log"
MAX_IDLE_NS = 100_000_000  # an IDLE blocks at most this long: a lost WAKE cannot hang
UART_LINE_MAX = 4096  # a guest that never writes a newline still gets its bytes out
LABEL_IDLE = 256  # _hermit_fastio.Sampler.label(): a host call's number, or idle

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_CODE64 = (0, 0xFFFFFFFF, 0x08, *kvm.SEG_CODE64)  # the boot GDT's selectors (vm.py)
_DATA = (0, 0xFFFFFFFF, 0x10, *kvm.SEG_DATA)
INTERNAL_ERRORS = {
    1: "emulation failure",
    2: "exception during event delivery",
    3: "delivery of an event failed",
    4: "unhandled VM exit",
}


class VcpuStopped(Exception):
    """This vCPU was told to stop because the guest ended on another one."""


class Vcpu:
    def __init__(self, vm: Vm, index: int):
        self.vm = vm
        self.index = index
        self.fd = _check(vm.fd, kvm.CREATE_VCPU, index, "KVM_CREATE_VCPU")
        os.set_inheritable(self.fd, False)
        self.area = mmap.mmap(
            self.fd, vm.run_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self.uart_line = bytearray()
        self.pending: dict[int, int] = {}  # hypercall nr -> low half of its argument GPA
        self.stopped = False  # another vCPU ended the guest: leave the run loop
        self.in_host = False  # serving a hypercall, outside KVM_RUN
        self.host_nr = 0  # which (the profiler's label)
        self.idle = False  # blocked in HC_IDLE
        self.sampler = None  # sampler.Sampler: takes the sample it kicked us for
        self.fast = None  # the profiler's compiled KVM_RUN loop (_hermit_fastio.Sampler)
        self.debugger = None  # gdbstub.Debugger (HERMIT_DEBUG=1): holds us while GDB looks
        self.in_run = False  # inside KVM_RUN (where a signal interrupts it)
        self.thread = 0  # the ident of the thread that runs it
        self.events: Events | None = None  # kvm_pvm: the loader delivers timer and kicks
        self.poller = None  # poller.Poller: told when this thread served a file call
        self.poll_error: UhyveError | None = None  # the poller ends the VM through us
        self.exits: dict | None = None  # HERMIT_STATS: {(exit reason, port): count}

    def close(self) -> None:
        self.flush_uart()
        self.area.close()
        os.close(self.fd)

    # -- boot state -------------------------------------------------------------------

    def set_cpuid(self) -> None:
        """The host's CPUID as KVM supports it, with this vCPU's APIC id."""
        entries = self.vm.supported_cpuid()
        # The in-kernel LAPIC's TSC-deadline timer: KVM leaves announcing it to us.
        deadline = ioctl(self.vm.kvm_fd, kvm.CHECK_EXTENSION, kvm.CAP_TSC_DEADLINE_TIMER) > 0
        buf = bytearray(kvm.CPUID2.size + len(entries) * kvm.CPUID_ENTRY.size)
        kvm.CPUID2.pack_into(buf, 0, len(entries), 0)
        for i, (function, index, flags, eax, ebx, ecx, edx) in enumerate(entries):
            if function == 1:
                ebx = (ebx & 0x00FFFFFF) | (self.index << 24)
                ecx |= (1 << 24) if deadline else 0
            elif function in (0xB, 0x1F):
                edx = self.index  # x2APIC id in the topology leaves
            off = kvm.CPUID2.size + i * kvm.CPUID_ENTRY.size
            kvm.CPUID_ENTRY.pack_into(buf, off, function, index, flags, eax, ebx, ecx, edx)
        _check(self.fd, kvm.SET_CPUID2, buf, "KVM_SET_CPUID2")

    def enter_long_mode(self, entry: int, rdi: int, rsi: int, rdx: int = 0,
                        cpu: CpuState | None = None) -> bool:
        """64-bit mode with the boot GDT and page tables; rip at the image entry.  With
        the image's `cpu` state, also the kernel's own descriptor tables, control
        registers and MSRs (cpustate.py); True when KVM took all of them."""
        sregs = bytearray(kvm.SREGS_SIZE)
        _check(self.fd, kvm.GET_SREGS, sregs, "KVM_GET_SREGS")
        kvm.SEGMENT.pack_into(sregs, kvm.SREG_SEGMENT_OFF["cs"], *_CODE64)
        for name in ("ds", "es", "fs", "gs", "ss"):
            kvm.SEGMENT.pack_into(sregs, kvm.SREG_SEGMENT_OFF[name], *_DATA)
        kvm.DTABLE.pack_into(sregs, kvm.SREG_GDT_OFF, C.BOOT_GDT_ADDR, 3 * 8 - 1)
        apic_base = kvm.SREG_CONTROL.unpack_from(sregs, kvm.SREG_CONTROL_OFF)[6]
        cr0 = kvm.CR0_PE | kvm.CR0_MP | kvm.CR0_ET | kvm.CR0_NE | kvm.CR0_WP | kvm.CR0_PG
        cr4 = kvm.CR4_PAE | kvm.CR4_OSFXSR | kvm.CR4_OSXMMEXCPT
        efer = kvm.EFER_LME | kvm.EFER_LMA
        kvm.SREG_CONTROL.pack_into(
            sregs, kvm.SREG_CONTROL_OFF, cr0, 0, C.BOOT_PML4_ADDR, cr4, 0, efer, apic_base
        )
        ready = cpu is not None and self._kernel_state(sregs, cpu)
        if not ready:
            _check(self.fd, kvm.SET_SREGS, sregs, "KVM_SET_SREGS")
        regs = [0] * len(kvm.REG_NAMES)
        regs[kvm.REG["rip"]] = entry
        regs[kvm.REG["rflags"]] = kvm.RFLAGS_RESERVED
        regs[kvm.REG["rdi"]] = rdi
        regs[kvm.REG["rsi"]] = rsi
        regs[kvm.REG["rdx"]] = rdx  # the vCPU's index: the kernel starts the others apart
        if self.index:  # with the in-kernel LAPIC the others would wait for INIT/SIPI
            _check(self.fd, kvm.SET_MP_STATE, _U32.pack(kvm.MP_STATE_RUNNABLE), "KVM_SET_MP_STATE")
        _check(self.fd, kvm.SET_REGS, kvm.REGS.pack(*regs), "KVM_SET_REGS")
        return ready

    def _kernel_state(self, boot: bytearray, cpu: CpuState) -> bool:
        """Load the kernel's registers (cpustate.apply) over the boot state `boot`; False
        where KVM refuses one: the caller loads `boot`, the kernel the rest itself."""
        sregs = bytearray(boot)
        msrs = cpustate.apply(sregs, cpu, self.index)
        try:
            ioctl(self.fd, kvm.SET_SREGS, sregs)
            if ioctl(self.fd, kvm.SET_MSRS, cpustate.msrs_struct(msrs)) == len(msrs):
                return True
        except OSError:
            pass
        return False

    def tsc_khz(self) -> int:
        try:
            return ioctl(self.fd, kvm.GET_TSC_KHZ)
        except OSError:
            return 0

    def regs(self) -> dict[str, int]:
        buf = bytearray(kvm.REGS.size)
        try:
            ioctl(self.fd, kvm.GET_REGS, buf)
        except OSError:
            return {}
        return dict(zip(kvm.REG_NAMES, kvm.REGS.unpack(buf), strict=True))

    def where(self) -> str:
        r = self.regs()
        if not r:
            return "at an unknown rip"
        return f"at rip={r['rip']:#x} rsp={r['rsp']:#x}"

    def dump_state(self, services: HostServices) -> None:
        """Registers (and cr2) of a vCPU that stopped without a report, to stderr."""
        from ..crash import cpu_state  # pyelftools only on this rare path

        r, sregs = self.regs(), bytearray(kvm.SREGS_SIZE)
        try:
            ioctl(self.fd, kvm.GET_SREGS, sregs)
        except OSError:
            return
        if r:
            _cr0, r["cr2"], r["cr3"] = kvm.SREG_CONTROL.unpack_from(sregs, kvm.SREG_CONTROL_OFF)[:3]
            say(f"hermit: vCPU {self.index} state:")
            cpu_state(r, services.image, services.mem)

    # -- the run loop -----------------------------------------------------------------

    def run(self, services: HostServices, uart: bool) -> int:
        """Run until the guest exits (its status) or fails (UhyveError)."""
        self.thread = threading.get_ident()
        try:
            return self._run(services, uart)
        finally:
            self.in_run = False
            if self.fast is not None and self.exits is not None:  # kicks served in C
                key = ("signal", 0)
                self.exits[key] = self.exits.get(key, 0) + self.fast.served(self.index)
            if self.events:
                self.events.stop()  # no kick may reach this thread once it is gone
            if self.sampler is not None:
                self.sampler.stop()

    def _run(self, services: HostServices, uart: bool) -> int:
        area, fd, run_request = self.area, self.fd, kvm.RUN
        unpack_io, unpack_u32 = kvm.RUN_IO.unpack_from, _U32.unpack_from
        hc_base, mb_base = C.HC_PORT_BASE, C.HC_MAILBOX_PORT_BASE
        dbg = self.debugger
        exits = self.exits
        fast, index = self.fast, self.index
        while True:
            if self.stopped:  # set while this thread was in a host call
                raise VcpuStopped
            if dbg is not None and not dbg.running:
                dbg.hold(self)  # GDB looks at the guest: wait for its continue or step
                continue
            try:
                self.in_run = True
                if fast is None:
                    ioctl(fd, run_request, 0)
                else:
                    fast.run(index)  # kicks for a sample only: served there
            except InterruptedError:  # a signal whose handler returned: look around, resume
                self.in_run = False
                if exits is not None:
                    exits["signal", 0] = exits.get(("signal", 0), 0) + 1
                if self.stopped:
                    raise VcpuStopped from None
                if self.poll_error is not None:
                    error, self.poll_error = self.poll_error, None
                    raise error from None
                if self.sampler is not None:
                    self.sampler.take(self)  # before an event moves rip
                if self.events:
                    self.events.deliver(self)
                self.check_alive()
                continue
            self.in_run = False
            reason = unpack_u32(area, kvm.RUN_EXIT_REASON)[0]
            if exits is not None:
                port = unpack_io(area, kvm.RUN_EXIT_DATA)[2] if reason == kvm.EXIT_IO else 0
                key = (reason, port)
                exits[key] = exits.get(key, 0) + 1
            if reason != kvm.EXIT_IO:
                self.fail(reason, services)
            direction, size, port, count, off = unpack_io(area, kvm.RUN_EXIT_DATA)
            if direction == kvm.EXIT_IO_OUT:
                nr = port - hc_base
                if 0 < port - mb_base < 256:
                    nr = port - mb_base
                    gpa = self.mailbox_arg(services, nr, size, count, area, off)
                elif 0 < nr < 256:
                    gpa = self.hypercall_arg(nr, size, count, area, off)
                if 0 < nr < 256:
                    if gpa is None:
                        continue
                    if nr == HC.IDLE or nr == HC.WAKE:
                        self.idle_or_wake(services, nr, gpa)
                        continue
                    if nr == HC.DEBUG:
                        if dbg is None:
                            raise UhyveError(f"the guest stopped for a debugger, but none is "
                                             f"attached ({self.where()})")
                        dbg.trap(self, gpa)
                        continue
                    self.host_nr = nr
                    self.in_host = True  # may block for good: see smp.py
                    if fast is not None:
                        fast.label(index, nr)
                    try:
                        status = services.handle(nr, gpa)
                    except GuestError as e:
                        raise UhyveError(
                            f"guest broke the hypercall protocol: {e} ({self.where()}); "
                            "is the image built for this hermit version?"
                        ) from None
                    finally:
                        self.in_host = False
                        if fast is not None:
                            fast.label(index, 0)
                    if status is not None:
                        return status
                    if self.poller is not None and nr == HC.SYSCALL:
                        self.poller.ring()
                elif port == UART_PORT and uart:
                    self.uart_out(area[off : off + size * count])
            else:
                value = LSR_TX_EMPTY if port == UART_LSR else 0xFF
                area[off : off + size * count] = bytes((value,)) * (size * count)

    def idle_or_wake(self, services: HostServices, nr: int, gpa: int) -> None:
        """IDLE: block this vCPU's thread until a WAKE names it or the time is up (the
        kernel looks at its run queue again either way). Outside the services' lock:
        the other vCPUs go on."""
        field = S.hc_wake.offset["cpu"] if nr == HC.WAKE else S.hc_idle.offset["ns"]
        try:
            value = services.mem.read_u64(gpa + field)
        except GuestFault:
            raise UhyveError(
                f"hypercall {nr}: argument outside guest memory ({self.where()})"
            ) from None
        wake = self.vm.wake
        if nr == HC.WAKE:
            if value >= len(wake):
                raise UhyveError(f"WAKE of cpu {value}: there are {len(wake)} ({self.where()})")
            wake[value].set()
            return
        mine = wake[self.index]
        self.idle = True
        if self.fast is not None:
            self.fast.label(self.index, LABEL_IDLE)
        mine.wait(min(value, MAX_IDLE_NS) / 1e9)
        self.idle = False
        if self.fast is not None:
            self.fast.label(self.index, 0)
        mine.clear()
        if self.stopped:
            raise VcpuStopped

    def mailbox_arg(
        self, services: HostServices, nr: int, size: int, count: int, area: mmap.mmap, off: int
    ) -> int | None:
        """The argument GPA a guest left in its mailbox slot (the `outl` value), None
        for a repeated `outl` of a call taken already (mailbox.py)."""
        if size != 4 or count != 1:
            raise UhyveError(f"hypercall {nr}: expected `outl` of a mailbox slot ({self.where()})")
        slot = _U32.unpack_from(area, off)[0]
        try:
            call = services.mailbox.take(slot)
        except ValueError:
            raise UhyveError(f"hypercall {nr}: no mailbox slot {slot} ({self.where()})") from None
        except GuestFault:
            raise UhyveError(f"hypercall {nr}: mailbox outside guest memory") from None
        if call is None:
            return None
        services.mailbox.answer(slot, call[2])  # this vCPU waits in the exit until served
        return call[1]

    def hypercall_arg(
        self, nr: int, size: int, count: int, area: mmap.mmap, off: int
    ) -> int | None:
        """The argument GPA of hypercall `nr`, or None until both halves arrived.

        KVM may hand us `rep outsl` one 4-byte iteration per exit: keep the low
        half per port until the high half follows.
        """
        if size == 4 and count == 2:
            return _U64.unpack_from(area, off)[0]
        if size == 4 and count == 1:
            half = _U32.unpack_from(area, off)[0]
            low = self.pending.pop(nr, None)
            if low is None:
                self.pending[nr] = half
                return None
            return low | half << 32
        raise UhyveError(
            f"hypercall {nr}: {count} x {size}-byte port write, expected `rep outsl` of "
            f"the 8-byte argument address (rcx=2) ({self.where()})"
        )

    def check_alive(self) -> None:
        if self.index:
            return  # other vCPUs halt in their idle loops by design
        """Halted with interrupts off, nothing can wake this vCPU: report it.

        With the in-kernel LAPIC, KVM handles `hlt` itself and never returns
        KVM_EXIT_HLT, so the periodic tick that interrupted KVM_RUN looks here.
        """
        state = bytearray(4)
        try:
            ioctl(self.fd, kvm.GET_MP_STATE, state)
        except OSError:
            return
        if _U32.unpack(state)[0] != kvm.MP_STATE_HALTED:
            return
        r = self.regs()
        if r and not r["rflags"] & kvm.RFLAGS_IF:
            self.halted(r["rip"] - 1)  # rip is past the one-byte hlt

    def halted(self, rip: int) -> None:
        raise UhyveError(
            f"guest halted without exiting (hlt at rip={rip:#x} with interrupts off): "
            f"the kernel stopped before the EXIT hypercall; {HINT_LOG}"
        )

    def fail(self, reason: int, services: HostServices) -> None:
        """Turn any exit other than port I/O into a clear UhyveError."""
        area = self.area
        data = kvm.RUN_EXIT_DATA
        if reason == kvm.EXIT_HLT:
            r = self.regs()
            self.halted(r.get("rip", 1) - 1)
        if reason == kvm.EXIT_SHUTDOWN:
            self.dump_state(services)
            raise UhyveError(
                f"guest triple-faulted {self.where()}: a CPU exception found no working "
                f"handler; {HINT_LOG}"
            )
        if reason == kvm.EXIT_MMIO:
            gpa, _data, length, is_write = kvm.RUN_MMIO.unpack_from(area, data)
            what = "write to" if is_write else "read from"
            raise UhyveError(
                f"guest {what} unbacked address {gpa:#x} ({length} bytes) {self.where()}: "
                f"guest RAM is {memlayout.describe(self.vm.mem_low, self.vm.mem_high)}; "
                "raise HERMIT_MEM if the kernel needs more"
            )
        if reason == kvm.EXIT_FAIL_ENTRY:
            code = kvm.RUN_U64.unpack_from(area, data)[0]
            raise UhyveError(
                f"KVM could not enter the guest (hardware entry failure {code:#x}) "
                f"{self.where()}: the vCPU state is invalid; this is a uhyve bug"
            )
        if reason == kvm.EXIT_INTERNAL_ERROR:
            sub = _U32.unpack_from(area, data)[0]
            raise UhyveError(
                f"KVM internal error ({INTERNAL_ERRORS.get(sub, f'suberror {sub}')}) "
                f"{self.where()}: the guest ran an instruction KVM cannot emulate; {HINT_LOG}"
            )
        name = kvm.EXIT_NAMES.get(reason, str(reason))
        raise UhyveError(f"unexpected KVM exit {name} {self.where()}: this is a uhyve bug")

    # -- serial console ---------------------------------------------------------------

    def uart_out(self, data: bytes) -> None:
        self.uart_line += data
        if b"\n" in data or len(self.uart_line) >= UART_LINE_MAX:
            self.flush_uart()

    def flush_uart(self) -> None:
        if self.uart_line:
            try:
                os.write(2, self.uart_line)
            except OSError:
                pass
            self.uart_line.clear()
