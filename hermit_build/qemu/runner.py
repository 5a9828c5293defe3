"""Run a hermit image under QEMU and serve its hypercalls with the host services uhyve uses.

Guest RAM is a memfd that QEMU maps as its memory backend and the runner maps too,
so hypercall arguments are read in place, as under uhyve.  Hypercalls arrive on the
UART at C.HC_UART_PORT, a chardev on one end of a socketpair: a 10-byte frame
(u16 number, u64 argument GPA, little-endian) per call, answered with C.HC_ACK
when the guest may go on; or, from the kernel, a doorbell byte naming the cpu's
mailbox slot.  Each slot's calls run on a worker thread of their own (workers.py):
one blocked in the host never stops the other cpus, the console or the timeout.
"""

import mmap
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .. import memlayout, net
from ..abi import HC, C
from ..config import RunConfig, check_mem, kvm_is_pvm, kvm_problem
from ..elfload import Image, check
from ..errors import raise_terminated, say
from ..guestmem import GuestFault, GuestMemory
from ..hostcalls import GuestError, HostServices
from ..kernlog import boot_info
from ..poller import Poller
from .command import (
    Machine,
    QemuError,
    build_command,
    machine_for,
    tsc_khz,
    tty_bits,
)
from .process import Qemu, find_qemu
from .workers import Workers

FRAME = struct.Struct("<HQ")
ACK = bytes([C.HC_ACK])
STDERR_KEEP = 1 << 16  # bytes of QEMU's stderr kept for the error message
MAX_WAIT_MS = 3600 * 1000  # poll() takes an int of ms: long timeouts wait in steps
MAX_BACKLOG = 1024  # calls queued for one worker before the guest counts as flooding
HINT = "HERMIT_VERBOSE=1 prints the kernel log, HERMIT_DEBUG=1 waits for GDB"


def notice(text: str) -> None:
    say(f"hermit: {text}")


def use_kvm(cfg: RunConfig, kvm_required: bool) -> bool:
    if not cfg.kvm:
        return False
    problem = kvm_problem()
    if problem is None:
        return True
    if kvm_required:
        raise QemuError(f"KVM was requested but {problem}; set HERMIT_KVM=0 for TCG")
    notice(f"{problem}: QEMU emulates the CPU (TCG), which is slower")
    return False


# What kvm_pvm does with a guest under a debugger: its KVM_SET_GUEST_DEBUG succeeds, but
# a software breakpoint reaches the guest as #BP (hermit reports a crash) and a hardware
# one never stops it.  TCG serves both.
DEBUG_FALLBACK = ("HERMIT_DEBUG=1: this host's KVM (kvm_pvm) cannot stop a guest at a "
                  "breakpoint, so QEMU emulates the CPU (TCG) for GDB")


def debug_kvm(cfg: RunConfig, kvm: bool, pvm: bool) -> bool:
    """Whether QEMU may use KVM when GDB may be attached (cfg.debug)."""
    if cfg.debug and kvm and pvm:
        notice(DEBUG_FALLBACK)
        return False
    return kvm


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated (a KeyboardInterrupt), so QEMU is killed on the way out."""
    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def guest_memory(machine: Machine, size: int) -> tuple[int, mmap.mmap, GuestMemory]:
    fd = os.memfd_create("hermit-ram", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        ram = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as e:
        os.close(fd)
        raise QemuError(f"cannot allocate {size >> 20} MiB of guest memory: {e}") from None
    regions = [(gpa, n, ram, off) for gpa, n, off in machine.ram_regions(size)]
    return fd, ram, GuestMemory(regions)


class Session:
    """One QEMU process and the runner's ends of its hypercall and console sockets."""

    def __init__(
        self,
        qemu: Qemu,
        hc: socket.socket,
        con: socket.socket | None,
        services: HostServices,
        timeout: float | None,
        ram: tuple[int, int] | None = None,
    ):
        self.qemu, self.hc, self.con, self.services = qemu, hc, con, services
        self.ram = ram  # (below 4 GiB, from 4 GiB): the RAM the runner maps
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.errtext = b""
        self.workers = Workers()
        self.poller: Poller | None = None  # file calls without a doorbell (poller.py)
        self.poll = select.poll()
        for f in (hc.fileno(), qemu.stderr, qemu.pidfd, con and con.fileno(),
                  self.workers.wake_r):
            if f is not None:
                self.poll.register(f, select.POLLIN)
        if con is not None:
            con.setblocking(False)

    rung = False  # the first doorbell came (RAM checked then)

    def serve(self) -> int:
        """Serve hypercalls until the guest exits (its status) or QEMU ends (QemuError)."""
        hc, pidfd, buf = self.hc.fileno(), self.qemu.pidfd, b""
        while True:
            ready = dict(self.poll.poll(self.wait_ms()))
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise QemuError(f"guest did not exit within {self.timeout:g} s (timeout)", 124)
            if self.con is not None and self.con.fileno() in ready:
                self.pump_console()
            if self.qemu.stderr in ready:
                self.read_stderr()
            if self.workers.wake_r in ready:
                outcome = self.workers.outcome()
                if isinstance(outcome, BaseException):
                    raise outcome
                if outcome is not None:
                    return outcome
            if hc in ready:
                data = self.hc.recv(4096)
                if not data:
                    self.poll.unregister(hc)  # QEMU is going away: pidfd says when
                buf += data
                self.pump_console()  # kernel messages sent before these calls go out first
                while buf:
                    if buf[0] >= C.HC_DOORBELL:  # the kernel's: the call is in its slot
                        slot, buf = buf[0] - C.HC_DOORBELL, buf[1:]
                        self.doorbell(slot)
                    elif len(buf) >= FRAME.size:  # a bare frame, answered by a byte
                        nr, gpa = FRAME.unpack_from(buf)
                        buf = buf[FRAME.size :]
                        self.check_backlog(-1)
                        self.workers.submit(-1, lambda nr=nr, gpa=gpa: self.frame(nr, gpa))
                    else:
                        break
            if pidfd in ready:
                raise QemuError(self.early_exit())

    def wait_ms(self) -> int:
        if self.deadline is None:
            return -1
        return min(MAX_WAIT_MS, max(0, int((self.deadline - time.monotonic()) * 1000) + 1))

    def doorbell(self, slot: int) -> None:
        """Hand the call waiting in mailbox slot `slot` to its worker."""
        if not self.rung:
            self.rung = True
            info = boot_info(self.services.mem)
            if info:
                self.check_ram(info["mem_size"], info["mem_high"])
        try:
            call = self.services.mailbox.take(slot)
        except (GuestFault, ValueError):
            raise QemuError(f"the guest rang for mailbox slot {slot}, which is not in its "
                            f"memory ({HINT})") from None
        if call is None:  # rung again for a call taken already (mailbox.py)
            return
        nr, gpa, seq = call
        self.check_backlog(slot)
        self.workers.submit(slot, lambda: self.slot_call(slot, nr, gpa, seq))
        if nr == HC.SYSCALL and self.poller is not None:
            self.poller.ring()

    def poll_failed(self, _slot: int, why: str) -> None:
        """The poller found the guest breaking the protocol: the VM ends."""
        self.workers.hand_over(QemuError(f"{why} ({HINT})"))

    def check_backlog(self, key: int) -> None:
        """The kernel waits for each call's answer before the next on its slot (or
        frame): a guest that rings on regardless would grow the queues without bound."""
        if self.workers.backlog(key) >= MAX_BACKLOG:
            what = "bare frames" if key < 0 else f"doorbells for mailbox slot {key}"
            raise QemuError(f"the guest sent {MAX_BACKLOG} {what} without waiting for the "
                            f"answers ({HINT})")

    def slot_call(self, slot: int, nr: int, gpa: int, seq: int) -> int | None:
        """On the slot's worker: serve it, then tell the guest it is served."""
        status = self.hypercall(nr, gpa)
        if status is None:
            self.services.mailbox.answer(slot, seq)
        return status

    def frame(self, nr: int, gpa: int) -> int | None:
        """On the frames' worker: serve it; a byte tells the guest it is served."""
        status = self.hypercall(nr, gpa)
        if status is None:
            self.hc.sendall(ACK)
        return status

    def check_ram(self, low: int, high: int) -> None:
        """The kernel's RAM (from QEMU's memory map, where firmware may keep a little
        for itself) must lie inside the runner's, or hypercall arguments in it would be
        out of the runner's reach."""
        if self.ram is not None and (low > self.ram[0] or high > self.ram[1]):
            raise QemuError(
                f"QEMU gave the guest RAM at {memlayout.describe(low, high)}, the runner "
                f"expected {memlayout.describe(*self.ram)}: this QEMU lays out the machine "
                "differently; try HERMIT_MACHINE=microvm"
            )

    def hypercall(self, nr: int, gpa: int) -> int | None:
        try:
            return self.services.handle(nr, gpa)
        except GuestError as e:
            raise QemuError(f"the guest broke the hypercall protocol: {e} ({HINT})") from None

    def pump_console(self) -> None:
        """Copy what the kernel wrote to COM1 to our stderr."""
        if self.con is None:
            return
        while True:
            try:
                data = self.con.recv(65536)
            except BlockingIOError:
                return
            if not data:
                self.poll.unregister(self.con.fileno())
                self.con.close()
                self.con = None
                return
            try:
                os.write(2, data)
            except OSError:  # stderr on a full disk: the console is lost, the guest runs on
                pass

    def read_stderr(self) -> bool:
        """Keep the tail of what QEMU printed; False at its end."""
        data = os.read(self.qemu.stderr, 65536)
        if not data:
            self.poll.unregister(self.qemu.stderr)
            return False
        self.errtext = (self.errtext + data)[-STDERR_KEEP:]
        return True

    def early_exit(self) -> str:
        """Why QEMU ended before the guest called EXIT, in one line."""
        status = self.qemu.reap()
        while self.qemu.stderr in dict(self.poll.poll(0)) and self.read_stderr():
            pass
        self.pump_console()
        lines = self.errtext.decode(errors="replace").strip().splitlines()
        last = f": {lines[-1].strip()}" if lines else ""
        if status == 0:
            what = "QEMU stopped before the guest called EXIT (a triple fault or a reset?)"
        elif status < 0:
            what = f"QEMU was killed by {signal.Signals(-status).name} before the guest exited"
        else:
            what = f"QEMU failed with exit status {status}"
        return f"{what}{last} ({HINT})"

    def qemu_stderr(self) -> str:
        return self.errtext.decode(errors="replace")


def run(cfg: RunConfig, image: Image, kvm_required: bool = False) -> int:
    """Boot `image` under QEMU; the guest's exit status.  Raises QemuError, KeyboardInterrupt."""
    find_qemu()  # before any notice: a missing QEMU is the one thing to say
    machine = machine_for(cfg.machine)
    check_mem(cfg.mem)
    check(image, machine.split(cfg.mem)[0], cfg.mem, pvh=True)  # QEMU's loader checks less
    kvm = debug_kvm(cfg, use_kvm(cfg, kvm_required), kvm_is_pvm())
    if cfg.debug:
        notice(f"QEMU waits for GDB on localhost:{cfg.gdb_port} (target remote :{cfg.gdb_port})")
    if cfg.monitor:
        notice(f"QEMU monitor on telnet 127.0.0.1:{cfg.port + 1}")
    if cfg.profile:
        notice("HERMIT_PROFILE is uhyve's (it samples uhyve's vCPUs); ignored under QEMU: "
               "run with HERMIT_ISLE=uhyve, or sample QEMU with perf kvm")

    ram_fd, ram, mem = guest_memory(machine, cfg.mem)
    hc, hc_peer = socket.socketpair()
    con, con_peer = socket.socketpair() if cfg.uart else (None, None)
    peers = [s for s in (hc_peer, con_peer) if s is not None]
    argv = build_command(
        cfg, kvm=kvm, kernel=image.path, ram_fd=ram_fd, hc_fd=hc_peer.fileno(),
        con_fd=con_peer.fileno() if con_peer else -1, tsc=tsc_khz(), tty=tty_bits(),
    )  # fmt: skip
    session = None
    stats_out, started, ended = None, 0.0, 0.0
    try:
        if cfg.stats:
            from .. import stats

            stats_out = stats.open_output(cfg.stats)  # before Landlock
        started = time.monotonic()
        try:
            qemu = Qemu(argv, [ram_fd, *(s.fileno() for s in peers)])
        finally:
            os.close(ram_fd)
            for s in peers:
                s.close()
        if cfg.forwards and cfg.net:
            from ..net.backlog import widen_in_child

            widen_in_child(qemu.pid, [h for h, _g in cfg.forwards])  # libslirp's backlog: 1
        services = HostServices(mem, cfg.argv, cfg.env, image.path, cfg.mounts,
                                strace=cfg.strace, ring="doorbell")
        if cfg.net:  # the name server of the guest's network
            services.files.mounts.replace_file("/etc/resolv.conf", net.resolv_conf(cfg.tap))
        if cfg.landlock:
            services.confine()  # QEMU runs already, unconfined by it (its own process)
        session = Session(qemu, hc, con, services, cfg.timeout, machine.split(cfg.mem))
        # TCG spends its host cpu on the guest's: a spinner would take it (unless asked)
        session.poller = Poller.start_for(cfg.hc_poll if kvm or cfg.hc_poll else False,
                                          services, cfg.cpus, session.poll_failed)
        try:
            with services, sigterm_as_interrupt():
                status = session.serve()
                ended = time.monotonic()
                return status
        finally:
            if session.poller is not None:
                session.poller.close()
            session.workers.close()  # one still blocked in the host is left behind
            qemu.close()
            session.pump_console()
    finally:
        hc.close()
        if con is not None:
            con.close()
        if cfg.verbose:
            if session is not None and session.errtext:
                say(session.qemu_stderr().rstrip("\n"))
            if session is not None and session.poller is not None:
                say(f"qemu: {session.poller.served} file calls served by the poller, "
                    "without a doorbell")
            log_to_stderr(mem)
        if cfg.stats and started:
            facts = {"exits": None, "ring": "doorbell"}
            if ended:
                facts["run_ms"] = (ended - started) * 1e3
                facts["run_what"] = "from starting QEMU to the guest's exit"
            stats.report(stats_out, mem, "qemu+kvm" if kvm else "qemu/tcg", facts)
        try:
            ram.close()
        except BufferError:  # a view is still referenced (a traceback); the GC unmaps it
            pass


def log_to_stderr(mem: GuestMemory) -> None:
    from ..kernlog import kernel_log

    log = kernel_log(mem)
    if log:
        say(log.rstrip("\n"))
