"""Starting the loader's own threads (vCPUs, poller, NIC, ticker, GDB, profiler...).

Signals are the main thread's: Ctrl-C, SIGTERM and the timeout's SIGALRM must end
the main thread's blocking call (KVM_RUN, QEMU's poll), which they would not do if
the kernel delivered them to a helper thread that happened to be waiting.  A thread
inherits its creator's mask, so it blocks them from its first instruction.
"""

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up
import threading

MAIN_ONLY = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGALRM})


def start(*threads: threading.Thread, also=()) -> None:
    """Start `threads` with the main thread's signals (and `also`) blocked in them."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_ONLY | set(also))
    try:
        for t in threads:
            t.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
