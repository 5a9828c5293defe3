"""Several vCPUs: one host thread each; the first to see the guest end stops the rest.

KVM_RUN releases the GIL, so the vCPUs run in parallel.  Only the main thread
takes SIGINT, SIGTERM and the watchdog's SIGALRM (the others block them); a
vCPU is stopped by setting its flag and interrupting its KVM_RUN with SIGUSR1.
"""

import signal
import threading

from ..hostcalls import HostServices
from .vcpu import Vcpu, VcpuStopped

KICK = signal.SIGUSR1
MAIN_ONLY = {signal.SIGINT, signal.SIGTERM, signal.SIGALRM}


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
        signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_ONLY)
        try:
            outcome.setdefault("status", vcpu.run(services, uart))
        except VcpuStopped:
            return
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            outcome.setdefault("error", e)
        stop_all()
        signal.pthread_kill(main, KICK)

    previous = signal.signal(KICK, lambda *_: None)
    threads = [threading.Thread(target=body, args=(v,), daemon=True) for v in vcpus[1:]]
    for t in threads:
        t.start()
    try:
        try:
            outcome.setdefault("status", vcpus[0].run(services, uart))
        except VcpuStopped:
            pass
    finally:
        stop_all()
        for t in threads:
            while t.is_alive():
                signal.pthread_kill(t.ident, KICK)
                t.join(0.02)
        signal.signal(KICK, previous)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["status"]  # type: ignore[return-value]
