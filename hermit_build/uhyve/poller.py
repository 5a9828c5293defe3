"""uhyve's side of the mailbox poller (hermit_build/poller.py): a vCPU thread that
serves a file call itself rings it (vcpu.py), and a protocol error it finds ends the
VM through the vCPU whose call it was (a kick out of KVM_RUN and Vcpu.poll_error).
"""

import _signal as signal
import threading

from ..hostcalls import HostServices
from ..poller import Poller
from .errors import UhyveError
from .kick import kick as kick_vcpu


def start(setting: bool | str | None, services: HostServices, vcpus: list,
          kick: int) -> tuple[Poller | None, object]:
    """The poller of this VM (or None) and the kick's handler to put back at its end
    (None: leave it); on the main thread."""
    poller = Poller.start_for(setting, services, len(vcpus),
                              lambda slot, why: _fail(vcpus, kick, slot, why),
                              frozenset({kick}))
    previous = None
    if poller is not None and signal.getsignal(kick) in (signal.SIG_DFL, None):
        previous = signal.signal(kick, _ignore)  # a kick must only end KVM_RUN
    return poller, previous


def _fail(vcpus: list, kick: int, slot: int, why: str) -> None:
    """End the VM: the vCPU of `slot` (waiting for its answer) raises the error."""
    vcpu = vcpus[slot if slot < len(vcpus) else 0]
    vcpu.poll_error = UhyveError(why)
    for _ in range(500):  # until that vCPU took it (it leaves KVM_RUN on a kick)
        if not vcpu.thread or vcpu.poll_error is None or vcpu.stopped:
            return
        try:
            kick_vcpu(vcpu, kick)
        except OSError:
            return
        threading.Event().wait(0.01)


def _ignore(*_: object) -> None:
    """A kick only has to end KVM_RUN with EINTR."""
