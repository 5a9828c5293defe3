"""Timer and kick events for a guest the host delivers no interrupts to (kvm_pvm).

The kernel says per cpu when it wants its timer (struct hc_event `due`, a guest
TSC value) and when another cpu wants it to look at once (`kick`), with plain
stores: no exits.  A ticker thread looks every TICK_S while an event is armed on a
running vCPU (else every IDLE_TICK_S); when one is due on a vCPU that is inside
KVM_RUN it interrupts that thread's KVM_RUN with a signal.
The vCPU's own thread then delivers it (deliver()), only if the vCPU runs the
application: it saves the registers `syscall` clobbers in the event slot and sends
the vCPU to the kernel's event_entry (arch/x86/event.c), which does what the timer
interrupt does elsewhere and returns with every register as it was.  Which mode
the vCPU is in, kvm_pvm's registers do not say: the kernel keeps a word per cpu,
exact outside the code that switches modes, whose range it publishes.
"""

from __future__ import annotations

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up
import threading
import time
from fcntl import ioctl

from .. import threadstart
from ..abi import S
from ..guestmem import GuestFault, GuestMemory
from ..kernlog import boot_info
from . import kvm
from .errors import UhyveError

TICK_S = 0.001  # how often the ticker looks while an event is armed on a running vCPU
IDLE_TICK_S = 0.005  # and otherwise (a kick or a new deadline waits at most this long)
RETRY_NS = 2_000_000  # a kick that found the kernel running is repeated after this
_OFF = S.hc_event.offset
TYPE_CHECKING = False  # typing costs start-up time; type checkers see True
if TYPE_CHECKING:
    from .vcpu import Vcpu


def guest_tsc(fd: int) -> int:
    """The guest TSC of a vCPU that is not running (KVM_GET_MSRS)."""
    buf = bytearray(kvm.MSRS.size + kvm.MSR_ENTRY.size)
    kvm.MSRS.pack_into(buf, 0, 1, 0)
    kvm.MSR_ENTRY.pack_into(buf, kvm.MSRS.size, kvm.MSR_TSC, 0, 0)
    ioctl(fd, kvm.GET_MSRS, buf)
    return kvm.MSR_ENTRY.unpack_from(buf, kvm.MSRS.size)[2]


class Events:
    def __init__(self, mem: GuestMemory, vcpus: list[Vcpu], tsc_khz: int, signum: int,
                 tsc0: int | None = None):
        self.mem, self.vcpus, self.signum = mem, vcpus, signum
        # guest TSC = tsc0 + (host monotonic ns - ns0) * khz / 1e6 (KVM keeps it in step)
        self.ns0 = time.monotonic_ns()
        self.tsc0 = guest_tsc(vcpus[0].fd) if tsc0 is None else tsc0
        self.khz = tsc_khz
        self.fault = ""  # the ticker found the guest's event data outside its memory
        self.base = 0  # boot_info.hc_events once the kernel set it
        self.entry = self.entry_start = self.entry_end = 0
        self.kicked_at = [0] * len(vcpus)  # host ns of each vCPU's last kick
        self.over = threading.Event()
        self.lock = threading.Lock()  # a kick against stop(): never signal a thread gone
        self.thread = threading.Thread(target=self._loop, name="events", daemon=True)

    def start(self) -> None:
        threadstart.start(self.thread)

    def stop(self) -> None:
        """No kick and no look at guest memory after this returns (each vCPU thread
        calls it on its way out; the runner before it closes the memory)."""
        with self.lock:
            self.over.set()

    def now_tsc(self) -> int:
        return self.tsc0 + (time.monotonic_ns() - self.ns0) * self.khz // 1_000_000

    def slot(self, index: int) -> int:
        return self.base + S.hc_event.size * index

    def state(self, index: int) -> tuple[bool, bool]:
        """(armed, wanted) for vCPU `index`: its timer or a kick is set; and one of them
        is due with no event on its way.  The slot is read once."""
        at, read = self.slot(index), self.mem.read_u64
        due, kick = read(at + _OFF["due"]), read(at + _OFF["kick"])
        armed = bool(due or kick)
        return armed, armed and not read(at + _OFF["taken"]) and (
            bool(kick) or due <= self.now_tsc())

    def wanted(self, index: int) -> bool:
        """An event is due on vCPU `index` and none is on its way."""
        return self.state(index)[1]

    def _kick(self, thread: int) -> None:
        with self.lock:  # never after stop(): the thread may be gone
            if not self.over.is_set():
                signal.pthread_kill(thread, self.signum)

    def _loop(self) -> None:
        try:
            self._tick()
        except GuestFault as e:  # a vCPU thread ends the guest with it (deliver())
            self.fault = str(e)
            if self.vcpus[0].in_run:
                self._kick(self.vcpus[0].thread)

    def _tick(self) -> None:
        tick = IDLE_TICK_S
        while not self.over.wait(tick):
            with self.lock:  # the guest's memory stays open until stop() has returned
                if self.over.is_set():
                    return
                tick = self._look()

    def _look(self) -> float:
        """One look at every running vCPU's slot, kicking those with an event due;
        how long until the next look.  Under self.lock."""
        if not self.base:
            info = boot_info(self.mem)
            if not info or not info["hc_events"]:
                return IDLE_TICK_S
            self.entry, self.entry_start = info["event_entry"], info["entry_start"]
            self.entry_end = info["entry_end"]
            self.base = info["hc_events"]  # last: deliver() starts looking then
        tick, now = IDLE_TICK_S, time.monotonic_ns()
        for i, v in enumerate(self.vcpus):
            if not v.in_run:
                continue
            armed, wanted = self.state(i)
            if armed:
                tick = TICK_S
            if wanted and now - self.kicked_at[i] >= RETRY_NS:
                self.kicked_at[i] = now
                signal.pthread_kill(v.thread, self.signum)  # not after stop(): the lock
        return tick

    def deliver(self, v: Vcpu) -> None:
        """On v's thread, out of KVM_RUN: send it to event_entry if an event is due
        and it runs the application (ring 3); else leave it as it is.  UhyveError
        when the guest's event data lies outside its memory."""
        try:
            if self.fault:
                raise GuestFault(self.fault)
            self._deliver(v)
        except GuestFault as e:
            raise UhyveError(f"the guest broke the event protocol: {e}; is the image built "
                             "for this hermit version?") from None

    def _deliver(self, v: Vcpu) -> None:
        if not self.base or not self.wanted(v.index):
            return
        # Which mode: kvm_pvm's CS does not say (measured: 0x33 in the kernel's idle
        # loop), so the kernel's own word does, outside its entry and exit code.
        at = self.slot(v.index)
        if self.mem.read_u64(self.mem.read_u64(at + _OFF["in_user"])) != 1:
            return  # the kernel: it looks at its queue and signals itself on the way out
        regs = bytearray(kvm.REGS.size)
        ioctl(v.fd, kvm.GET_REGS, regs)
        r = list(kvm.REGS.unpack(regs))
        if self.entry_start <= r[kvm.REG["rip"]] < self.entry_end:
            return  # on its way in or out: the next tick finds it on one side
        for name in ("rip", "rflags", "rax", "rcx", "r11"):
            self.mem.write_u64(at + _OFF[name], r[kvm.REG[name]])
        self.mem.write_u64(at + _OFF["taken"], 1)
        r[kvm.REG["rip"]] = self.entry
        ioctl(v.fd, kvm.SET_REGS, kvm.REGS.pack(*r))
