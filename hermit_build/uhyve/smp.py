"""Several vCPUs: one host thread each; the first to see the guest end stops the rest.

KVM_RUN releases the GIL, so the vCPUs run in parallel, and each serves its own
hypercalls.  Only the main thread takes SIGINT, SIGTERM and the watchdog's SIGALRM
(the others block them); a vCPU is stopped by setting its flag and interrupting
its KVM_RUN with SIGUSR1.  A vCPU thread waiting in a host call that may never
return (a flock the guest deadlocked itself on, a read of a terminal) is not
waited for: a signal does not end a blocked call in Python's other threads.  It
is a daemon thread, and leaves its run loop if that call ever returns.
"""

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up
import threading

from .. import threadstart
from ..hostcalls import HostServices
from .vcpu import Vcpu, VcpuStopped

KICK = signal.SIGUSR1


def run_all(vcpus: list[Vcpu], services: HostServices, uart: bool) -> int:
    """Run every vCPU until the guest exits (its status) or fails (the first error)."""
    if len(vcpus) == 1:
        return vcpus[0].run(services, uart)
    outcome: dict[str, object] = {}
    main = threading.get_ident()

    def stop_all() -> None:
        for v in vcpus:
            v.stopped = True
        for e in vcpus[0].vm.wake:  # a vCPU blocked in IDLE looks at `stopped` then
            e.set()

    def body(vcpu: Vcpu) -> None:
        try:
            outcome.setdefault("status", vcpu.run(services, uart))
        except VcpuStopped:
            return
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            outcome.setdefault("error", e)
        stop_all()
        if not over:
            signal.pthread_kill(main, KICK)

    def kicked(*_: object) -> None:
        # The main thread's own vCPU waits in a host call, which the signal
        # interrupts but Python would resume: the guest is over, leave it.
        if vcpus[0].stopped and vcpus[0].in_host and not over:
            raise VcpuStopped

    over = False
    previous = signal.signal(KICK, kicked)
    threads = [threading.Thread(target=body, args=(v,), daemon=True) for v in vcpus[1:]]
    threadstart.start(*threads)
    try:
        try:
            outcome.setdefault("status", vcpus[0].run(services, uart))
        except VcpuStopped:
            pass
    finally:
        over = True
        stop_all()
        for v, t in zip(vcpus[1:], threads, strict=True):
            while t.is_alive() and not v.in_host:  # out of KVM_RUN, where a kick reaches it
                signal.pthread_kill(t.ident, KICK)
                t.join(0.02)
        if not any(t.is_alive() for t in threads):
            signal.signal(KICK, previous)  # else the harmless handler stays for the stragglers
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["status"]  # type: ignore[return-value]
