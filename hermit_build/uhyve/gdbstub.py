"""uhyve's GDB server (HERMIT_DEBUG=1): GDB's remote protocol on a TCP port, all-stop.

KVM's own guest debugging does not work on kvm_pvm (breakpoints reach the guest as
#BP), so the guest helps, which works on every KVM: with boot_info.debug set, the
kernel sends a breakpoint (int3, #BP) or a single step (TF, #DB) to the loader
(HC_DEBUG, arch/x86/debug.c) and goes on with the registers as the debugger left
them.  The other vCPUs are kicked out of KVM_RUN and held before their next one.
So a stopped vCPU is either in a trap (its registers in the hc_debug struct) or
held outside KVM_RUN (its registers are KVM's).  Threads are vCPUs (1, 2, ...);
guest addresses are physical = virtual.  Software breakpoints are int3 bytes the
server writes and hides from memory reads.  Hardware watchpoints are not offered:
the guest's own debug registers (KVM_SET_DEBUGREGS) never fired, neither on kvm_pvm
nor under the nested real KVM this project can test; GDB's software watchpoints
(it single-steps) serve.  The guest waits for GDB before its first instruction.
"""

from __future__ import annotations

import _signal as signal
import os
import select
import socket
import threading
from fcntl import ioctl

from .. import threadstart
from ..abi import C, S
from ..guestmem import GuestFault
from . import kvm
from .errors import UhyveError

DEBUG_FLAG = C.BOOT_INFO_ADDR + S.boot_info.offset["debug"]
TF = 0x100
SIGTRAP, SIGINT = 5, 2
_DBG = S.hc_debug.offset
# GDB's amd64 registers without a target description: 16 general, rip, eflags (4
# bytes), six segments (4), st0-7 (10), eight x87 control words (4), xmm0-15, mxcsr
GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
        "r12", "r13", "r14", "r15")
SIZES = [8] * 17 + [4] * 7 + [10] * 8 + [4] * 8 + [16] * 16 + [4]


def checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


class Stop:
    """How a vCPU is stopped: in a trap (gpa of its hc_debug) or held (gpa 0)."""

    def __init__(self, gpa: int = 0):
        self.gpa = gpa
        self.action = "hold"  # what it does when the guest runs again: c, s or hold


class Debugger:
    def __init__(self, vm, vcpus: list, port: int, kick: int):
        self.mem, self.vcpus, self.kick = vm.mem, vcpus, kick
        self.cond = threading.Condition()
        self.running = False  # the vCPUs may run (no stop reported and unanswered)
        self.stops: dict[int, Stop] = {}
        self.pending: list[int] = []  # vCPUs that trapped while others were stopped
        self.breakpoints: dict[int, int] = {}  # address -> the byte the int3 replaced
        self.current = 0  # the thread GDB's g, p, m... address
        self.last = b"T05thread:01;"
        self.unreported = False  # self.last is a stop GDB has not heard of yet
        self.status: int | None = None  # the guest's exit status, for GDB's W packet
        self.conn: socket.socket | None = None
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError as e:
            self.sock.close()
            raise UhyveError(f"cannot listen for GDB on port {port}: {e.strerror} (another "
                             "debugger running? choose a port with HERMIT_GDB_PORT)") from None
        self.sock.listen(1)
        self.port = port
        self.thread = threading.Thread(target=self._serve, name="gdb", daemon=True)

    def start(self) -> None:
        self.mem.write_u64(DEBUG_FLAG, 1)
        threadstart.start(self.thread, also={self.kick})

    # -- the vCPU threads' side ----------------------------------------------------

    def hold(self, v) -> None:
        """Before KVM_RUN while the debugger holds the guest: wait, then run (a step
        sets TF for one instruction)."""
        with self.cond:
            if self.running:
                return
            stop = self.stops.setdefault(v.index, Stop())
            self.cond.notify_all()
            while (not self.running or stop.action == "hold") and not v.stopped:
                self.cond.wait(0.5)
            self.stops.pop(v.index, None)
        self._set_tf(v, stop.action == "s")

    def trap(self, v, gpa: int) -> None:
        """HC_DEBUG on v's thread: report it (or queue it) and wait for the debugger."""
        try:
            self.mem.view(gpa, S.hc_debug.size)
        except GuestFault:
            raise UhyveError(f"HC_DEBUG: argument {gpa:#x} outside guest memory") from None
        with self.cond:
            stop = self.stops[v.index] = Stop(gpa)
            if self.running:
                self._stopped(v.index, SIGTRAP)
            else:
                self.pending.append(v.index)
            while (not self.running or stop.action == "hold" or v.index in self.pending) \
                    and not v.stopped:
                self.cond.wait(0.5)
            self.stops.pop(v.index, None)
        rflags = self.mem.read_u64(gpa + _DBG["rflags"])
        self.mem.write_u64(gpa + _DBG["rflags"],
                           rflags | TF if stop.action == "s" else rflags & ~TF)

    def exited(self, status: int) -> None:
        with self.cond:
            self.status = status
        os.write(self.wake_w, b"x")

    def _stopped(self, index: int, sig: int) -> None:
        """Under cond: the guest stops (vCPU index's event); the others are kicked."""
        self.running = False
        self.unreported = True
        self.current = index
        self.last = b"T%02xthread:%02x;" % (sig, index + 1)
        for v in self.vcpus:
            if v.index != index and v.in_run and v.thread:
                signal.pthread_kill(v.thread, self.kick)
        os.write(self.wake_w, b"s")

    def _set_tf(self, v, on: bool) -> None:
        buf = bytearray(kvm.REGS.size)
        ioctl(v.fd, kvm.GET_REGS, buf)
        r = list(kvm.REGS.unpack(buf))
        flags = r[kvm.REG["rflags"]]
        if bool(flags & TF) != on:
            r[kvm.REG["rflags"]] = flags | TF if on else flags & ~TF
            ioctl(v.fd, kvm.SET_REGS, kvm.REGS.pack(*r))

    # -- registers and memory ------------------------------------------------------

    def _regs(self, index: int) -> list[int]:
        v, stop = self.vcpus[index], self.stops.get(index)
        if stop is not None and stop.gpa:
            d = S.hc_debug.unpack(self.mem.view(stop.gpa, S.hc_debug.size))
            out = [d[r] for r in GPRS] + [d["rip"], d["rflags"], d["cs"], d["ss"]]
        else:
            buf = bytearray(kvm.REGS.size)
            ioctl(v.fd, kvm.GET_REGS, buf)
            r = dict(zip(kvm.REG_NAMES, kvm.REGS.unpack(buf), strict=True))
            sregs = bytearray(kvm.SREGS_SIZE)
            ioctl(v.fd, kvm.GET_SREGS, sregs)
            cs = kvm.SEGMENT.unpack_from(sregs, 0)[2]
            ss = kvm.SEGMENT.unpack_from(sregs, 5 * kvm.SEGMENT.size)[2]
            out = [r[n] for n in GPRS] + [r["rip"], r["rflags"], cs, ss]
        out += [0, 0, 0, 0]  # ds es fs gs: flat in 64-bit mode
        fpu = bytearray(kvm.FPU.size)
        try:
            ioctl(v.fd, kvm.GET_FPU, fpu)
            fpr, fcw, fsw, ftw, fop, fip, fdp, xmm, mxcsr = kvm.FPU.unpack(fpu)
        except OSError:
            fpr, fcw, fsw, ftw, fop, fip, fdp, xmm, mxcsr = bytes(128), 0, 0, 0, 0, 0, 0, \
                bytes(256), 0
        out += [int.from_bytes(fpr[i * 16 : i * 16 + 10], "little") for i in range(8)]
        out += [fcw, fsw, ftw, 0, fip & 0xFFFFFFFF, 0, fdp & 0xFFFFFFFF, fop]
        out += [int.from_bytes(xmm[i * 16 : i * 16 + 16], "little") for i in range(16)]
        return out + [mxcsr]

    def _set_reg(self, index: int, n: int, value: int) -> bool:
        """General registers, rip and eflags; others are read-only here."""
        if n > 17:
            return False
        stop = self.stops.get(index)
        name = (GPRS + ("rip", "rflags"))[n]
        if stop is not None and stop.gpa:
            self.mem.write_u64(stop.gpa + _DBG[name], value)
            return True
        v = self.vcpus[index]
        buf = bytearray(kvm.REGS.size)
        ioctl(v.fd, kvm.GET_REGS, buf)
        r = list(kvm.REGS.unpack(buf))
        r[kvm.REG[name]] = value
        ioctl(v.fd, kvm.SET_REGS, kvm.REGS.pack(*r))
        return True

    def _read(self, addr: int, length: int) -> bytes:
        data = bytearray(self.mem.read(addr, length))
        for at, orig in self.breakpoints.items():
            if addr <= at < addr + length:
                data[at - addr] = orig  # GDB sees the code, not our int3
        return bytes(data)

    def _write(self, addr: int, data: bytes) -> None:
        data = bytearray(data)
        for at in self.breakpoints:
            if addr <= at < addr + len(data):
                self.breakpoints[at] = data[at - addr]  # the new code, under our int3
                data[at - addr] = 0xCC
        self.mem.write(addr, bytes(data))

    # -- the protocol --------------------------------------------------------------

    def _serve(self) -> None:
        try:
            self.conn, _ = self.sock.accept()
            self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._session()
        except OSError:
            pass
        finally:
            self._detach()

    def _session(self) -> None:
        buf = b""
        while True:
            ready, _, _ = select.select([self.conn, self.wake_r], [], [])
            if self.wake_r in ready:
                os.read(self.wake_r, 64)
                with self.cond:
                    if self.status is not None:
                        self._send(b"W%02x" % (self.status & 0xFF))
                        return
                    if self.unreported:  # a stop GDB waits for (it resumed us)
                        self.unreported = False
                        self._send(self.last)
            if self.conn not in ready:
                continue
            data = self.conn.recv(65536)
            if not data:
                return
            buf += data
            while buf:
                if buf[0:1] == b"\x03":  # Ctrl-C
                    buf = buf[1:]
                    self._interrupt()
                    continue
                if buf[0:1] in (b"+", b"-"):
                    buf = buf[1:]
                    continue
                start = buf.find(b"$")
                end = buf.find(b"#", start)
                if start < 0 or end < 0 or len(buf) < end + 3:
                    break
                packet, buf = buf[start + 1 : end], buf[end + 3 :]
                self.conn.sendall(b"+")
                try:
                    reply = self._packet(packet)
                except (ValueError, IndexError, OverflowError):
                    reply = b"E01"  # a malformed packet: GDB says what it sent
                if reply is None:  # detach or kill: the last reply is sent
                    return
                if reply is not False:  # False: resumed, the reply is the next stop
                    self._send(reply)

    def _send(self, payload: bytes) -> None:
        self.conn.sendall(b"$" + payload + b"#" + checksum(payload))

    def _interrupt(self) -> None:
        with self.cond:
            if self.running:
                self._stopped(self.current, SIGINT)
                self.cond.wait_for(lambda: len(self.stops) >= self._live(), 1.0)

    def _live(self) -> int:
        return sum(1 for v in self.vcpus if v.thread and not v.stopped and not v.in_host
                   and not v.idle)

    def _packet(self, p: bytes) -> bytes | bool | None:  # noqa: PLR0911, PLR0912
        kind, rest = p[:1], p[1:]
        with self.cond:
            if p == b"?":
                return self.last
            if p.startswith(b"qSupported"):
                return b"PacketSize=4000"
            if p == b"qAttached":
                return b"1"
            if p == b"qC":
                return b"QC%02x" % (self.current + 1)
            if p == b"qfThreadInfo":
                return b"m" + b",".join(b"%02x" % (v.index + 1) for v in self.vcpus)
            if p == b"qsThreadInfo":
                return b"l"
            if p == b"vCont?":
                return b"vCont;c;C;s;S"
            if kind == b"H":
                tid = int(rest[1:], 16) if rest[1:] not in (b"", b"-1") else 0
                if tid > len(self.vcpus):
                    return b"E01"
                if tid:
                    self.current = tid - 1
                return b"OK"
            if kind == b"T":
                return b"OK" if 0 < int(rest, 16) <= len(self.vcpus) else b"E01"
            if kind == b"g":
                return b"".join(x.to_bytes(n, "little").hex().encode()
                                for x, n in zip(self._regs(self.current), SIZES, strict=True))
            if kind == b"p":
                n = int(rest, 16)
                if n >= len(SIZES):
                    return b"E01"
                return self._regs(self.current)[n].to_bytes(SIZES[n], "little").hex().encode()
            if kind == b"P":
                n, value = rest.split(b"=")
                n = int(n, 16)
                if n >= len(SIZES):
                    return b"OK"  # GDB's Linux registers (orig_rax): nothing in hermit
                ok = self._set_reg(self.current, n, int.from_bytes(bytes.fromhex(value.decode()),
                                                                   "little"))
                return b"OK" if ok else b"E01"
            if kind == b"G":
                raw, at = bytes.fromhex(rest.decode()), 0
                for n, size in enumerate(SIZES[:18]):
                    self._set_reg(self.current, n, int.from_bytes(raw[at : at + size], "little"))
                    at += size
                return b"OK"
            if kind in (b"m", b"M", b"X"):
                return self._memory(kind, rest)
            if kind in (b"Z", b"z"):
                return self._breakpoint(kind == b"Z", rest)
            if kind in (b"c", b"s"):
                return self._resume({None: kind.decode()})
            if p.startswith(b"vCont;"):
                actions = {}
                for a in p[6:].split(b";"):
                    act, _, tid = a.partition(b":")
                    key = int(tid, 16) - 1 if tid and tid != b"-1" else None
                    actions.setdefault(key, act[:1].decode().lower())
                return self._resume(actions)
            if kind == b"D":
                self._send(b"OK")
                return None
            if kind == b"k":  # end the guest as Ctrl-C on the loader would
                os.kill(os.getpid(), signal.SIGTERM)
                return None
        return b""

    def _memory(self, kind: bytes, rest: bytes) -> bytes:
        head, _, data = rest.partition(b":")
        addr, length = (int(x, 16) for x in head.split(b","))
        try:
            if kind == b"m":
                return self._read(addr, length).hex().encode()
            raw = bytes.fromhex(data.decode()) if kind == b"M" else _unescape(data)
            self._write(addr, raw[:length])
            return b"OK"
        except (GuestFault, ValueError):
            return b"E01"

    def _breakpoint(self, insert: bool, rest: bytes) -> bytes:
        kind, addr, _ = rest.split(b",", 2)
        kind, addr = int(kind), int(addr, 16)
        if kind != 0:
            return b""  # hardware break and watchpoints: see the module's docstring
        try:
            if insert and addr not in self.breakpoints:
                self.breakpoints[addr] = self.mem.read(addr, 1)[0]
                self.mem.write(addr, b"\xcc")
            elif not insert and addr in self.breakpoints:
                self.mem.write(addr, bytes((self.breakpoints.pop(addr),)))
        except GuestFault:
            return b"E01"
        return b"OK"

    def _resume(self, actions: dict) -> bytes | bool:
        """Under cond: let the guest run (c) or one vCPU take a step (s)."""
        if self.pending:  # another vCPU trapped meanwhile: report it first
            index = self.pending.pop(0)
            self.current = index
            self.last = b"T%02xthread:%02x;" % (SIGTRAP, index + 1)
            return self.last
        default = actions.get(None)
        for index, stop in self.stops.items():
            act = actions.get(index, default)  # none: it stays (GDB's scheduler locking)
            stop.action = act if act in ("c", "s") else "hold"
        self.running = True
        self.cond.notify_all()
        return False

    def _detach(self) -> None:
        """GDB left (or was killed): take the breakpoints out, let the guest go on."""
        with self.cond:
            for addr, orig in self.breakpoints.items():
                try:
                    self.mem.write(addr, bytes((orig,)))
                except (GuestFault, ValueError):
                    pass
            self.breakpoints.clear()
            try:
                self.mem.write_u64(DEBUG_FLAG, 0)
            except (GuestFault, ValueError):
                pass
            for stop in self.stops.values():
                stop.action = "c"
            self.pending.clear()
            self.running = True
            self.cond.notify_all()
        if self.conn is not None:
            self.conn.close()

    def close(self) -> None:
        self.sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


def _unescape(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x7D:  # '}' escapes the next byte
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)

