"""HERMIT_STRACE: print the system calls the kernel recorded in its trace ring.

The kernel writes one record per system call (kernel/trace.c) into the ring at
boot_info.trace_addr; this reader takes them out, on its own thread every few
milliseconds, when the kernel finds the ring full (HC_TRACE), before each file
call is served (so the trace of earlier calls comes before what they print) and
at exit.  The ring is the guest's memory: a head that makes no sense ends the
trace with one line, never the loader.
"""

import sys
import threading

from . import strace_fmt, threadstart
from .abi import C, S
from .guestmem import GuestFault, GuestMemory
from .kernlog import boot_info

INTERVAL = 0.02  # seconds between reads while the guest runs
_HEAD, _TAIL = S.trace_ring.offset["head"], S.trace_ring.offset["tail"]
_STR0 = S.trace_rec.size  # the two strings follow the struct
assert _STR0 + 2 * C.TRACE_STR == C.TRACE_REC_BYTES


def open_output(dest: str):
    """The trace's destination: "-" is stderr, anything else a file created now (before
    the loader confines itself)."""
    if dest == "-":
        return None
    return open(dest, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115


class Tracer:
    def __init__(self, mem: GuestMemory, dest: str, ring: str = "VM exit"):
        self.mem = mem
        self.file = open_output(dest)
        self.ring = ring  # how the loader hears of a call that does not wait for the poller
        self.lock = threading.Lock()
        self.addr = 0
        self.tsc_khz = 0
        self.tids: list[int] = []  # in order of their first call
        self.broken = False
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._poll, name="hermit-strace", daemon=True)
        threadstart.start(self.thread)

    def _poll(self) -> None:
        while not self.stop.wait(INTERVAL):
            self.drain()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        self.drain()
        if self.file is not None:
            self.file.close()
            self.file = None

    def _ring(self) -> int:
        if not self.addr:
            info = boot_info(self.mem)
            if info and info["trace_addr"]:
                self.addr, self.tsc_khz = info["trace_addr"], info["tsc_khz"]
        return self.addr

    def drain(self) -> None:
        """Print every record written so far and hand the room back to the kernel."""
        with self.lock:
            if self.broken or not self._ring():
                return
            try:
                lines = self._take()
            except (GuestFault, ValueError) as e:
                self.broken = True
                lines = [f"hermit: the system-call trace ends here: its ring is broken ({e})"]
            self._write(lines)

    def _take(self) -> list[str]:
        head = self.mem.read_u64(self.addr + _HEAD)
        tail = self.mem.read_u64(self.addr + _TAIL)
        if not tail <= head <= tail + C.TRACE_RECS:
            raise ValueError(f"head {head}, tail {tail}")
        lines: list[str] = []
        for n in range(tail, head):
            at = self.addr + C.TRACE_REC_BYTES * (1 + n % C.TRACE_RECS)
            raw = self.mem.read(at, C.TRACE_REC_BYTES)
            lines += self.format(S.trace_rec.unpack(raw[:_STR0]), raw)
        self.mem.write_u64(self.addr + _TAIL, head)
        return lines

    def format(self, rec: dict[str, int], raw: bytes) -> list[str]:
        n0, n1 = (min(rec[k], C.TRACE_STR) for k in ("len0", "len1"))
        strings = (raw[_STR0 : _STR0 + n0], raw[_STR0 + C.TRACE_STR : _STR0 + C.TRACE_STR + n1])
        tid = rec["tid"]
        if tid not in self.tids:
            self.tids.append(tid)
        # strace -f marks every line once a second thread is there
        prefix = f"[pid {tid:5}] " if len(self.tids) > 1 else ""
        out = [prefix + strace_fmt.line(rec, strings)]
        out += [prefix + h for h in strace_fmt.host_lines(rec, self.tsc_khz, self.ring)]
        return out

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        try:
            if self.file is not None:
                self.file.write(text)
                self.file.flush()
            else:
                sys.stderr.write(text)
                sys.stderr.flush()
        except OSError:
            self.broken = True  # a full disk ends the trace, not the guest
