"""The kernel's hypercall mailbox (boot_info.hc_mailbox): one hc_slot per cpu.

The kernel writes a slot's gpa and nr, then its seq (one more than the last), and
rings (uhyve: `outl` of the slot index; QEMU: a doorbell byte).  A loader takes
the call, serves it and sets done = seq.  kvm_pvm now and then performs one port
write twice, so a ring is a hint, never a count: a call is taken once, while its
seq differs from done and no one serves it yet.  One per guest, shared by the
threads that serve it.  Once a poller runs (poller.py) its compiled Server
(pyext/serve.c) holds the claims, so that it can serve calls without Python: take()
and answer() then ask it.
"""

import struct
import threading

from .abi import C, S
from .guestmem import GuestMemory
from .kernlog import boot_info

_OFF = S.hc_slot.offset
_SEQ_DONE = struct.Struct("<2Q")  # hc_slot.seq, hc_slot.done
_GPA_NR = struct.Struct("<2Q")  # hc_slot.gpa, hc_slot.nr
assert S.hc_slot.fields == ["gpa", "nr", "seq", "done"]


class Mailbox:
    def __init__(self, mem: GuestMemory):
        self.mem = mem
        self.base: int | None = None  # boot_info.hc_mailbox, read at the first ring
        self.lock = threading.Lock()  # take() against answer() on another thread
        self.serving: set[int] = set()  # slots taken and not answered yet
        self.server = None  # _hermit_fastio.Server once attached: it holds the claims

    def attach(self, server) -> None:
        """From now on `server` (its base is this mailbox's) claims and answers."""
        with self.lock:
            for slot in self.serving:
                server.mark(slot)
            self.server = server

    def take(self, slot: int, only: int | None = None) -> tuple[int, int, int] | None:
        """The call waiting in `slot` as (nr, gpa, seq), or None for a repeated ring
        (or, with `only`, a call of another number: its ring will come).
        ValueError when the kernel set no mailbox up or there is no such slot;
        GuestFault when the slot lies outside guest memory."""
        with self.lock:
            if self.server is not None:
                return self.server.take(slot, -1 if only is None else only)
            if self.base is None:
                info = boot_info(self.mem)
                self.base = info["hc_mailbox"] if info else 0
            if not self.base or not 0 <= slot < C.HC_MAILBOX_SLOTS:
                raise ValueError(f"no mailbox slot {slot}")
            slot_view = self.mem.view(self.base + S.hc_slot.size * slot, S.hc_slot.size)
            # seq first: the kernel writes it last, so what follows is its call's.
            seq, done = _SEQ_DONE.unpack_from(slot_view, _OFF["seq"])
            if slot in self.serving or seq == done:
                return None
            gpa, nr = _GPA_NR.unpack_from(slot_view, _OFF["gpa"])
            if only is not None and nr != only:
                return None
            self.serving.add(slot)
        return nr, gpa, seq

    def answer(self, slot: int, seq: int) -> None:
        """The call numbered `seq` in `slot` (taken) is served: the guest may go on."""
        with self.lock:  # one step for take(): answered and free again
            if self.server is not None:
                self.server.answer(slot, seq)
                return
            assert self.base
            self.mem.write_u64(self.base + S.hc_slot.size * slot + _OFF["done"], seq)
            self.serving.discard(slot)
