"""uhyve's sampling profiler (HERMIT_PROFILE, `hermit run --profile`): no rebuild.

A thread wakes HZ times a second.  A vCPU inside KVM_RUN gets the kick the event
ticker uses (a signal that ends KVM_RUN with EINTR, events.py); its own thread then
takes the sample on its way back in (take()): the registers, whether it ran the
application or the kernel, and a copy of the top of its stack, so that the stack
can be unwound at the end without racing the guest.  A vCPU waiting in a host call
or idle is counted as such by the sampling thread, without a kick.  At the end the
samples are unwound with the image's call-frame information (frame pointers where
there is none, unwind.py), symbolized, and written as folded stacks and a flame
graph in the working directory (profile.py), with a top-functions table on stderr.
"""

from __future__ import annotations

import _signal as signal
import struct
import threading
import time
from collections import Counter
from fcntl import ioctl

from .. import threadstart
from ..abi import HC_NAMES, S
from ..guestmem import GuestFault
from ..kernlog import boot_info
from . import kvm

WINDOW = 16 << 10  # bytes of stack copied per sample: deeper frames are cut ("...")
MAX_FRAMES = 64
_EV = S.hc_event.offset
_U64, _RSP_RBP = struct.Struct("<Q"), struct.Struct("<2Q")  # rsp and rbp are adjacent
_RIP_AT, _RSP_AT = 8 * kvm.REG["rip"], 8 * kvm.REG["rsp"]
assert kvm.REG["rbp"] == kvm.REG["rsp"] + 1
TYPE_CHECKING = False  # typing costs start-up time; type checkers see True
if TYPE_CHECKING:
    from .vcpu import Vcpu


class _Window:
    """The stack copy of one sample, read as GuestMemory is by the unwinder."""

    def __init__(self, base: int, data: bytes):
        self.base, self.data = base, data

    def read_u64(self, addr: int) -> int:
        o = addr - self.base
        if not 0 <= o <= len(self.data) - 8:
            raise GuestFault(f"{addr:#x} is outside the copied stack")
        return int.from_bytes(self.data[o : o + 8], "little")


class Sampler:
    def __init__(self, vm, vcpus: list[Vcpu], hz: int, kick: int, pvm: bool):
        self.mem, self.vcpus, self.hz, self.kick, self.pvm = vm.mem, vcpus, hz, kick, pvm
        self.regs = [bytearray(kvm.REGS.size) for _ in vcpus]
        self.words = [0] * len(vcpus)  # kvm_pvm: each cpu's in-user word, once known
        self.samples: list[tuple] = []  # (rip, rsp, rbp, in_kernel, stack copy) or a label
        self.wanted = [False] * len(vcpus)
        self.over = threading.Event()
        self.lock = threading.Lock()  # a kick against stop(): never signal a thread gone
        self.thread = threading.Thread(target=self._loop, name="profiler", daemon=True)
        self.events = 0  # boot_info.hc_events (kvm_pvm: the kernel's in-user words)
        self.entry = (0, 0)
        self.started = time.monotonic()
        self.stopped = 0.0

    def start(self) -> None:
        threadstart.start(self.thread, also={self.kick})

    def stop(self) -> None:
        with self.lock:
            if not self.over.is_set():
                self.stopped = time.monotonic()
            self.over.set()

    def _loop(self) -> None:
        period = 1.0 / self.hz
        due = time.monotonic()
        while True:
            due += period
            wait = due - time.monotonic()
            if wait < 0:  # fell behind (a busy host): skip, never burst
                due, wait = time.monotonic(), 0
            if self.over.wait(wait):
                return
            with self.lock:
                if self.over.is_set():
                    return
                for i, v in enumerate(self.vcpus):
                    if v.thread is None or v.stopped:
                        continue
                    if v.in_host:
                        self.samples.append(("[host call]", HC_NAMES.get(v.host_nr, "?")))
                    elif v.idle:
                        self.samples.append(("[idle]",))
                    elif v.in_run and not self.wanted[i]:
                        self.wanted[i] = True
                        signal.pthread_kill(v.thread, self.kick)

    def take(self, v: Vcpu) -> None:
        """On v's thread, out of KVM_RUN: the sample it was kicked for, if any.  Kept
        short: its cost stops the vCPU (with the exit, ~50 us on kvm_pvm a sample)."""
        if not self.wanted[v.index]:
            return
        self.wanted[v.index] = False
        regs = self.regs[v.index]
        ioctl(v.fd, kvm.GET_REGS, regs)
        rip = _U64.unpack_from(regs, _RIP_AT)[0]
        rsp, rbp = _RSP_RBP.unpack_from(regs, _RSP_AT)
        kernel = self._in_kernel(v, rip)
        data = b""
        for start, size, buf, off in self.mem.regions:
            if start <= rsp < start + size:
                at = off + rsp - start
                data = buf[at : at + min(WINDOW, start + size - rsp)]  # one copy
                break
        self.samples.append((rip, rsp, rbp, kernel, data))

    def _in_kernel(self, v: Vcpu, rip: int) -> bool:
        if self.pvm and not self.events:
            info = boot_info(self.mem)
            if info and info["hc_events"]:
                self.entry = (info["entry_start"], info["entry_end"])
                self.events = info["hc_events"]
        if self.entry[0] <= rip < self.entry[1]:
            return True
        if self.events:  # kvm_pvm: the registers cannot say; the kernel's word does
            word = self.words[v.index]
            if not word:
                at = self.events + S.hc_event.size * v.index + _EV["in_user"]
                word = self.words[v.index] = self.mem.read_u64(at)
            return self.mem.read_u64(word) != 1
        if self.pvm:
            return True  # before the kernel said where its word is: it boots
        sregs = bytearray(kvm.SREGS_SIZE)
        ioctl(v.fd, kvm.GET_SREGS, sregs)
        return kvm.SEGMENT.unpack_from(sregs)[2] & 3 == 0  # cs.selector: ring 0

    def stacks(self, sym) -> Counter:
        """Each sample's stack (outermost first), symbolized; counted."""
        from ..unwind import CfiTable, unwind

        cfi = CfiTable(sym.elf) if sym is not None else None
        names: dict[int, str] = {}

        def name(addr: int) -> str:
            if addr not in names:
                found = sym.lookup(addr) if sym is not None else None
                names[addr] = found.rsplit("+", 1)[0] if found else f"{addr:#x}"
            return names[addr]

        out: Counter = Counter()
        for s in self.samples:
            if isinstance(s[0], str):
                out[s] += 1
                continue
            rip, rsp, rbp, kernel, data = s
            frames = unwind(cfi, {"rip": rip, "rsp": rsp, "rbp": rbp}, _Window(rsp, data),
                            MAX_FRAMES)
            stack = [name(a) for a in reversed(frames)]
            while len(stack) > 1 and stack[0].startswith("0x"):
                stack.pop(0)  # beyond the outermost function known (_start's caller)
            if len(frames) >= MAX_FRAMES or not frames[1:]:
                stack.insert(0, "...")  # cut, or nothing above the leaf could be unwound
            if kernel:
                stack.insert(0, "[kernel]")
            out[tuple(stack)] += 1
        return out
