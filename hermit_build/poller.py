"""The mailbox poller: file calls (HC_SYSCALL) served without a VM exit each.

On kvm_pvm a VM exit and the return to uhyve cost ~35 us, ~75% of a forwarded
call; under QEMU the doorbell (a port write, QEMU's chardev, a socket to the
runner) costs more.  While a burst of calls is in flight, this thread watches the mailbox
(_hermit_fastio.Server.serve, spinning without the GIL) and says so in
boot_info.hc_poll; the kernel then leaves a call in its slot without ringing (uhyve's
`outl`, QEMU's doorbell byte) and waits for `done`.  Transfers on regular host files
are served there in compiled code (pyext/serve.c); any other call comes back here
and Python serves it.  After each call it spins SPIN_NS for the next, then clears
the flag, looks once more (the kernel stores its seq before it reads the flag) and
sleeps until a call is served the classic way (`ring`: a uhyve vCPU thread, QEMU's
runner): the first call of a burst costs an exit, the next ones none.  With several
vCPUs it serves with the flag clear, so a call that blocks on the host never holds
up others (they ring meanwhile), and a call seen in the look after clearing it gets
a thread of its own; with one, no other call can come while one waits.

It spins only while every runnable host thread has a cpu (a spinner on a busy host
steals the guest's time) and it got one itself (its cpu time kept up with the clock),
and only with the compiled module.  One implementation
serves both loaders; each gives it how a protocol error ends its VM (`fail`).
"""

import os
import threading
import time

from . import threadstart
from .abi import HC, C, S
from .guestmem import GuestFault
from .hostcalls import GuestError, HostServices
from .hostfs import linux as L
from .hostfs.fdtable import MAX_HANDLES
from .hostfs.service import MAX_IO

TYPE_CHECKING = False  # typing costs start-up time; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable

SPIN_NS = 50_000  # ~1.5 exits: longer than the guest takes between two calls of a burst
IDLE_S = 0.1  # a sleeping poller looks at `stop` this often
START_AFTER = 16  # file calls before the thread starts (unless asked for: at once):
# a short program never pays it
BUSY_S = 0.01  # a host found busy is looked at again after this long
WORTH_S = 25e-6  # a spinner serving a call every this often on average pays ...
SHARE = 0.5  # ... and else one on a cpu for this share of its time spinning at least;
BACKOFF_S = 0.1  # others (preempted: sharing a cpu with the vCPUs) stand aside this long
FLAG = C.BOOT_INFO_ADDR + S.boot_info.offset["hc_poll"]


def wanted(setting: bool | str | None, cpus: int) -> bool:
    """Whether this VM gets a poller: RunConfig.hc_poll (HERMIT_HC_POLL) says, or
    (None) the host having more cpus than the guest has vCPUs.  Either way it spins
    only while every runnable host thread has a cpu (_cpu_free), unless "always"
    (tests that must exercise it on a busy host, hosts that keep a cpu for it)."""
    if setting is not None:
        return bool(setting)
    return len(os.sched_getaffinity(0)) > cpus


class Poller:
    def __init__(self, services: HostServices, cpus: int, fail: "Callable[[int, str], None]",
                 blocked: frozenset[int] = frozenset()):
        self.services = services
        self.cpus = cpus
        self.fail = fail  # fail(slot, why): end the VM (the loader's way)
        self.blocked = blocked  # signals the thread blocks besides the main thread's
        self.server = None  # _hermit_fastio.Server, made by the thread
        self.doorbell = threading.Event()
        self.awake = False
        self.stop = False
        self.thread: threading.Thread | None = None  # started at the first ring
        self.host_cpus = len(os.sched_getaffinity(0))
        self.busy_until = 0.0
        self.served = 0  # calls answered without a VM exit (HERMIT_VERBOSE's report)
        self.rings = 0
        # seconds spinning, calls served and seconds on a cpu since the last look
        self.window = [0.0, 0, 0.0]
        self.start_after = START_AFTER
        self.always = False  # spin even when the host is busy (HERMIT_HC_POLL=always)

    @classmethod
    def start_for(cls, setting: bool | str | None, services: HostServices, cpus: int,
                  fail: "Callable[[int, str], None]", blocked: frozenset[int] = frozenset(),
                  ) -> "Poller | None":
        """A poller for this VM, or None.  Its thread, and the module's import, wait
        for the first file calls: nothing of it lies on the boot path."""
        if not wanted(setting, cpus):
            return None
        p = cls(services, cpus, fail, blocked)
        p.start_after = 1 if setting else START_AFTER
        p.always = setting == "always"
        return p

    def ring(self) -> None:
        """A file call came the classic way: a burst may be starting (unless the host
        was found busy a moment ago: then waking the thread only costs)."""
        if self.awake or time.monotonic() < self.busy_until:
            return
        if self.thread is None:
            self.rings += 1
            if self.rings < self.start_after:
                return
            self.thread = threading.Thread(target=self._loop, name="hermit-poller",
                                           daemon=True)
            threadstart.start(self.thread, also=self.blocked)
        self.doorbell.set()

    def close(self) -> None:
        self.stop = True
        self.doorbell.set()
        if self.thread is not None:
            self.thread.join(1.0)  # it spins SPIN_NS at most, unless a host call blocks it
        if self.server is not None:
            self.server.close()  # its dups, and its hold on guest memory
        try:
            self.services.mem.write_u64(FLAG, 0)
        except (GuestFault, ValueError):
            pass  # guest memory is gone already

    def _loop(self) -> None:
        try:
            from _hermit_fastio import Server
        except ImportError:
            self.awake = True  # for good: spinning in Python would take the vCPUs' GIL
            return
        mb, mem = self.services.mailbox, self.services.mem
        slots = min(self.cpus, C.HC_MAILBOX_SLOTS)
        try:
            while not self.stop:
                self.doorbell.wait(IDLE_S)
                self.doorbell.clear()
                if self.stop or not mb.base or not self._cpu_free():
                    continue
                if self.server is None:
                    try:
                        self.server = self._server(Server, mb.base, slots)
                    except ValueError:
                        return  # the kernel's mailbox lies outside RAM: vCPUs serve
                self.awake = True
                mem.write_u64(FLAG, 1)
                start, cpu, spin = time.monotonic(), time.thread_time(), SPIN_NS
                served = self.served
                while not self.stop:
                    awake = time.monotonic() - start + self.window[0]
                    if spin and awake >= BUSY_S:
                        if not self._pays(start, served, cpu):  # awake BUSY_S: paid?
                            spin = 0  # a last look, then sleep
                        start, cpu, awake = time.monotonic(), time.thread_time(), 0.0
                        served = self.served
                    slot, n = self.server.serve(spin, int((BUSY_S - awake) * 1e9))
                    self.served += n
                    if slot == -2:
                        return  # closed: the VM is ending
                    if slot == -1:
                        break  # nothing for SPIN_NS: the flag is clear, sleep
                    if slot >= 0:  # Python's: its time (an fsync may block) is not spinning
                        t, c = time.monotonic(), time.thread_time()
                        self._serve(slot, mb, slots)
                        start += time.monotonic() - t
                        cpu += time.thread_time() - c
                self.awake = False
                self.window[0] += time.monotonic() - start
                self.window[1] += self.served - served
                self.window[2] += time.thread_time() - cpu
        except BaseException as e:  # noqa: BLE001 - ends the VM (the loader's way)
            self._fail(0, f"hypercall poller: {e}")

    def _server(self, Server, base: int, slots: int):
        """The compiled server of this mailbox, holding its claims from now on; the
        file service offers it each regular file at its first transfer."""
        files = self.services.files
        server = Server(self.services.mem.regions, base, C.HC_MAILBOX_SLOTS, slots, FLAG,
                        HC.SYSCALL, tuple(L.NR[n] for n in ("read", "write", "pread64",
                                                           "pwrite64")),
                        MAX_HANDLES, MAX_IO)
        self.services.mailbox.attach(server)
        with files.lock:
            files.fds.server = server
        return server

    def _pays(self, start: float, served: int, cpu: float) -> bool:
        """Whether to go on spinning, once awake BUSY_S in all (bursts add up): the
        host still free, and either a call served every WORTH_S on average or this
        thread on a cpu for SHARE of that time at least.  A spinner that shares a
        cpu with the vCPUs it serves fails both: its calls wait for it to run, its
        cpu time falls behind the clock (measured on 2 cpus with one vCPU: ~70%
        when on a cpu of its own, the host's threads taking the rest).  A guest that
        computes between its calls (a checksum of each MiB it reads) leaves a
        spinner idle on a cpu of its own, and each of those calls would cost an
        exit.  When neither, the poller stands aside for BACKOFF_S (the vCPU
        threads serve)."""
        wall = self.window[0] + time.monotonic() - start
        calls = self.window[1] + self.served - served
        ran = self.window[2] + time.thread_time() - cpu
        self.window = [0.0, 0, 0.0]
        if self.always or (calls * WORTH_S >= wall or ran >= SHARE * wall) and self._cpu_free():
            return True
        self.busy_until = max(self.busy_until, time.monotonic() + BACKOFF_S)
        return False

    def _cpu_free(self) -> bool:
        """Whether every runnable host thread has a cpu (this one and the vCPUs
        included): /proc/loadavg's running count, looked at once per BUSY_S at most."""
        now = time.monotonic()
        if self.always:
            return True
        if now < self.busy_until:
            return False
        try:
            with open("/proc/loadavg", "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
        except (OSError, ValueError, IndexError):
            return True
        if running <= self.host_cpus:
            return True
        self.busy_until = now + BUSY_S
        return False

    def _serve(self, slot: int, mb, slots: int) -> None:
        call = mb.take(slot, HC.SYSCALL)
        if call is None:
            return  # a vCPU thread took it (its `outl` crossed our look)
        self.served += 1
        if slots == 1:  # one cpu: no other call can come while this one waits
            self._answer(slot, call)
            return
        # Served with the flag clear: a call that blocks here stops no other.  A call
        # made before the kernel saw it clear gets a thread of its own.
        other, n = self.server.serve(0, 0)
        self.served += n
        if other >= 0:
            extra = mb.take(other, HC.SYSCALL)
            if extra is not None:
                threadstart.start(threading.Thread(target=self._answer, args=(other, extra),
                                                   daemon=True, name="hermit-poller-extra"))
        self._answer(slot, call, flag=True)

    def _answer(self, slot: int, call: tuple[int, int, int], flag: bool = False) -> None:
        nr, gpa, seq = call
        try:
            self.services.handle(nr, gpa)
        except GuestError as e:
            self._fail(slot, f"guest broke the hypercall protocol: {e}; "
                       "is the image built for this hermit version?")
            return
        if flag and not self.stop:
            self.services.mem.write_u64(FLAG, 1)  # before done: the next call sees it
        self.services.mailbox.answer(slot, seq)

    def _fail(self, slot: int, why: str) -> None:
        self.stop = True
        try:
            self.services.mem.write_u64(FLAG, 0)
        except (GuestFault, ValueError):
            pass
        self.fail(slot, why)
