"""The one way to end a vCPU's KVM_RUN from another thread: a signal whose handler does
nothing, so that KVM_RUN returns EINTR and the vCPU's thread looks at what it was told
(stop, a due event, the poller's error, the debugger, a sample).  Every kicker sends
it through kick(); the profiler's compiled loop (pyext/sample.c) serves a kick that
only asks for a sample without Python, and needs to be told about any other first.
"""

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up

KICK = signal.SIGUSR1


def kick(v, signum: int = KICK) -> None:
    """Kick vCPU v (a vcpu.Vcpu) out of KVM_RUN; its thread must still run."""
    if v.fast is not None:  # _hermit_fastio.Sampler: return to Python, not only sample
        v.fast.attention(v.index)
    signal.pthread_kill(v.thread, signum)
