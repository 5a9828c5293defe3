"""Boot one image: build the VM, its vCPU and boot structures, serve the guest."""

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up
import os
import threading
import time

from .. import net
from ..abi import C, S
from ..config import RunConfig, kvm_is_pvm
from ..elfload import Image
from ..errors import say
from ..hostcalls import HostServices
from . import poller as polling
from .errors import UhyveError
from .events import Events
from .smp import KICK, run_all
from .vcpu import UART_PORT, Vcpu
from .vm import Vm
from .watchdog import TIMEOUT_STATUS, Watchdog

ARGS_CLEARANCE = 8 << 20  # above the image: the kernel's page bitmaps (PVH maps 8 MiB)


def _tty_bits() -> int:
    bits = 0
    for fd, bit in ((0, C.ISATTY_STDIN), (1, C.ISATTY_STDOUT), (2, C.ISATTY_STDERR)):
        if os.isatty(fd):
            bits |= bit
    return bits


def boot(vm: Vm, cfg: RunConfig, image: Image, timings: dict[str, float], t0: float) -> int:
    """Boot `image` in `vm` per `cfg`; return the guest's exit status; close `vm`.

    `timings` gets milliseconds since `t0` (a perf_counter() value taken at run()).
    """
    vcpus: list[Vcpu] = []
    services: HostServices | None = None
    stats_out = None
    try:
        vm.load(image)
        vm.write_boot_tables()
        for i in range(cfg.cpus):
            vcpus.append(Vcpu(vm, i))
        vm.wake = [threading.Event() for _ in vcpus]
        ready = image.cpu_state is not None
        for vcpu in vcpus:
            vcpu.set_cpuid()
            ready &= vcpu.enter_long_mode(image.entry, C.BOOT_INFO_ADDR, C.LOADER_UHYVE,
                                          vcpu.index, image.cpu_state)
        pvm, tsc_khz = kvm_is_pvm(), vcpus[0].tsc_khz()
        vm.write_boot_info(
            cpus=len(vcpus),
            tsc_khz=tsc_khz,
            tty=_tty_bits(),
            uart_port=UART_PORT if cfg.uart else 0,
            pvm=pvm,
            loader_events=pvm,
            trace=bool(cfg.strace),
            stats=bool(cfg.stats),
            net=cfg.tap.boot_info() if cfg.tap is not None and cfg.net else None,
            cpu_ready=ready,
        )
        services = HostServices(vm.mem, cfg.argv, cfg.env, image.path, cfg.mounts,
                                strace=cfg.strace)
        if cfg.net:  # the name server of the guest's network
            services.files.mounts.replace_file("/etc/resolv.conf", net.resolv_conf(cfg.tap))
        if cfg.net:
            services.nic_factory = _nic_factory(vm, cfg, vcpus)
        if cfg.stats:
            from .. import stats

            stats_out = stats.open_output(cfg.stats)  # before Landlock
            for v in vcpus:
                v.exits = {}
        # The arguments lie in guest memory before boot (no HC_ARGS round trip): at the
        # top of what the boot page tables map, far above the image and the kernel's
        # bitmaps (it reserves 8 MiB for them), else the kernel asks by hypercall.
        args = services.place_args(min(vm.mem_low, C.BOOT_MAPPED_BYTES),
                                   image.end + ARGS_CLEARANCE)
        if args is not None:
            vm.mem.write_u64(C.BOOT_INFO_ADDR + S.boot_info.offset["args"], args)
        vm.ready()
        if cfg.landlock:
            services.confine()  # last: every fd the VM needs is open, no vCPU thread runs yet
        with services, Watchdog(cfg.timeout), _Events(vm, vcpus, pvm, tsc_khz):
            timings["setup"] = (time.perf_counter() - t0) * 1e3
            poller, kick_handler = polling.start(cfg.hc_poll, services, vcpus, KICK)
            sampler = _sampler(cfg.profile, vm, vcpus, pvm)
            debugger = _debugger(cfg, vm, vcpus)
            for v in vcpus:
                v.poller = poller
                v.sampler = sampler
                v.debugger = debugger
            try:
                status = run_all(vcpus, services, cfg.uart)
                if debugger is not None:
                    debugger.exited(status)  # GDB hears it (W), then lets go
                    debugger.thread.join(1.0)
            except UhyveError as e:
                if e.status == TIMEOUT_STATUS:
                    _where_stuck(vcpus, image.path)
                raise
            finally:
                if poller:
                    poller.close()
                    timings["polled"] = poller.served
                    if kick_handler is not None:
                        signal.signal(KICK, kick_handler)
                if sampler is not None:
                    sampler.stop()
                    try:
                        _write_profile(sampler, image.path)
                    finally:
                        sampler.close()  # before the VM unmaps guest memory
                if debugger is not None:
                    debugger.close()
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return status
    finally:
        for vcpu in vcpus:
            vcpu.close()
        if cfg.verbose:
            _report(vm, timings, services)
        if cfg.stats and any(v.exits is not None for v in vcpus):
            _stats(vm, vcpus, timings, stats_out)
        vm.close()


def _sampler(hz: int, vm: Vm, vcpus: list[Vcpu], pvm: bool):
    """The profiler's sampling thread, started, or None (HERMIT_PROFILE unset)."""
    if not hz:
        return None
    from . import sampler as sampling

    if signal.getsignal(KICK) in (signal.SIG_DFL, None):  # a kick must only end KVM_RUN
        signal.signal(KICK, _ignore)
    sampler = sampling.make(vm, vcpus, hz, KICK, pvm)
    sampler.start()
    return sampler


def _debugger(cfg: RunConfig, vm: Vm, vcpus: list[Vcpu]):
    """uhyve's GDB server (HERMIT_DEBUG=1), listening, or None."""
    if not cfg.debug:
        return None
    from .gdbstub import Debugger

    if signal.getsignal(KICK) in (signal.SIG_DFL, None):  # a kick must only end KVM_RUN
        signal.signal(KICK, _ignore)
    debugger = Debugger(vm, vcpus, cfg.gdb_port, KICK)
    say(f"hermit: uhyve waits for GDB on localhost:{cfg.gdb_port} "
        f"(gdb IMAGE -ex 'target remote :{cfg.gdb_port}')")
    debugger.start()
    return debugger


def _write_profile(sampler, image: str) -> None:
    """The profile's files in the working directory and its table on stderr."""
    from .. import profile
    from ..elf import symbolizer

    stacks = sampler.stacks(symbolizer(image))
    runtime = (sampler.stopped or time.monotonic()) - sampler.started
    say(f"hermit: profile: {sum(stacks.values())} samples in {runtime:.2f} s at "
        f"{sampler.hz} Hz")
    say(profile.table(stacks))
    title = f"{os.path.basename(image)}: {sum(stacks.values())} samples at {sampler.hz} Hz"
    try:
        with open(profile.FOLDED, "w") as f:
            f.write(profile.folded(stacks))
        with open(profile.SVG, "w") as f:
            f.write(profile.svg(stacks, title))
    except OSError as e:
        say(f"hermit: profile: cannot write {e.filename}: {e.strerror} (run from a writable "
            "directory)")
        return
    say(f"hermit: profile: wrote {profile.FOLDED} (folded stacks) and {profile.SVG} "
        "(flame graph)")
def _nic_factory(vm: Vm, cfg: RunConfig, vcpus: list[Vcpu]):
    """What makes the NIC at the guest's first HC_NET_OPEN (net/nic.py: libslirp, or
    the tap device's fd); only the capture file is opened now, before the loader
    confines itself."""
    capture = None
    if cfg.capture_net:
        from ..net.options import CAPTURE_FILE
        from ..net.pcap import Capture

        capture = Capture(CAPTURE_FILE)

    def make():
        from ..net.nic import Nic

        def wake() -> None:
            # One sleeping vCPU takes the frames (its idle loop); waking every one
            # would set them all spinning, taking the host's cpus from this thread.
            # None asleep yet: the one about to sleep (it armed rx.wait) must not.
            for v in vcpus:
                if v.idle:
                    vm.wake[v.index].set()
                    return
            for e in vm.wake:
                e.set()

        if cfg.tap is not None:
            from ..net.tap import TapNet

            fd = cfg.tap.take()  # opened by launch(), before the VM (proxy.py)
            return Nic(vm.mem, wake, capture=capture, mac=cfg.tap.mac,
                       backend=lambda send: TapNet(send, fd), tap_fd=fd)
        return Nic(vm.mem, wake, cfg.forwards, cfg.host_ports, capture)

    return make


class _Events:
    """kvm_pvm delivers no interrupts: while the guest runs, the loader delivers timer
    and kick events (events.py).  A class, not contextlib: the boot path stays light."""

    def __init__(self, vm: Vm, vcpus: list[Vcpu], pvm: bool, tsc_khz: int):
        self.events = Events(vm.mem, vcpus, tsc_khz, KICK) if pvm else None
        self.previous: object = None
        for v in vcpus if self.events else ():
            v.events = self.events

    def __enter__(self) -> None:
        if self.events:
            self.previous = signal.signal(KICK, _ignore)  # smp.run_all puts its own for >1
            self.events.start()

    def __exit__(self, *_: object) -> None:
        if self.events:
            self.events.stop()
            signal.signal(KICK, self.previous)


def _ignore(*_: object) -> None:
    """A kick only has to end KVM_RUN with EINTR."""


def _where_stuck(vcpus: list[Vcpu], image: str) -> None:
    """Where each vCPU was when the timeout stopped it: a loop in the application,
    or the kernel's idle loop (every thread blocked)."""
    from ..crash import where  # pyelftools only on this rare path
    from ..elf import symbolizer

    sym = symbolizer(image)
    for v in vcpus:
        rip = v.regs().get("rip")
        if rip is not None:
            say(f"hermit: vCPU {v.index} was at {where(sym, rip)}")


def _stats(vm: Vm, vcpus: list[Vcpu], timings: dict[str, float], out) -> None:
    from .. import stats

    exits: dict = {}
    for v in vcpus:
        for key, n in (v.exits or {}).items():
            exits[key] = exits.get(key, 0) + n
    facts: dict = {"exits": exits, "ring": "VM exit"}
    if "setup" in timings:
        facts["first_run_ms"] = timings["setup"]
    if "total" in timings and "setup" in timings:
        facts["run_ms"] = timings["total"] - timings["setup"]
        facts["run_what"] = "from the first KVM_RUN to the guest's exit"
    stats.report(out, vm.mem, "uhyve", facts)


def _report(vm: Vm, timings: dict[str, float], services: HostServices | None) -> None:
    from ..kernlog import kernel_log

    log = kernel_log(vm.mem)
    if log:
        say(log.rstrip("\n"))
    if "setup" in timings:
        say(f"uhyve: {timings['setup']:.1f} ms from run() to the first KVM_RUN")
    if "polled" in timings:
        say(f"uhyve: {timings['polled']} file calls served by the poller, without a VM exit")
    if services is not None and services.nic is not None:
        say(services.nic.summary())
