"""A periodic SIGALRM that kicks the vCPU out of KVM_RUN and enforces the timeout.

Every tick interrupts KVM_RUN (EINTR), so the run loop can look for a guest that
halted for good; the tick after the deadline raises the timeout error.  Ctrl-C
needs nothing from us: SIGINT interrupts KVM_RUN the same way and Python raises
KeyboardInterrupt.
"""

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up
import time
from types import FrameType, TracebackType

from .errors import UhyveError

TICK = 0.1  # seconds between kicks
TIMEOUT_STATUS = 124  # what timeout(1) returns


class Watchdog:
    def __init__(self, timeout: float | None):
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout else None
        self.old_handler: signal.Handlers | None = None
        self.armed = False

    def _tick(self, _signum: int, _frame: FrameType | None) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.disarm()
            raise UhyveError(
                f"guest did not exit within {self.timeout:g} s (timeout): "
                "raise HERMIT_TIMEOUT if it needs longer",
                status=TIMEOUT_STATUS,
            )

    def __enter__(self) -> "Watchdog":
        try:
            self.old_handler = signal.signal(signal.SIGALRM, self._tick)
        except ValueError:  # not the main thread: no signals, no timeout
            if self.timeout:
                raise UhyveError(
                    "a uhyve timeout needs the main thread: call run() there"
                ) from None
            return self
        self.armed = True
        first = min(TICK, self.timeout) if self.timeout else TICK
        signal.setitimer(signal.ITIMER_REAL, first, TICK)
        return self

    def disarm(self) -> None:
        if self.armed:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old_handler or signal.SIG_DFL)

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.disarm()
