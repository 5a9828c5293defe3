"""uhyve: run a hermit image in a KVM virtual machine, straight into its 64-bit entry.

    status = run(cfg, elfload.load(cfg.image))

Failures raise UhyveError: one line ending with a hint; its `status` is the exit
status to use (124 for a timeout).  Importing this package is cheap (the QEMU
runner's `hosttsc` imports `uhyve.kvm`); the KVM machinery loads on the first run().
"""

from __future__ import annotations

import time

from .errors import UhyveError

TYPE_CHECKING = False  # typing costs ~10 ms of start-up; type checkers see True
if TYPE_CHECKING:
    from ..config import RunConfig
    from ..elfload import Image

# Milliseconds of the last run(): "setup" from entering run() to the first KVM_RUN,
# "total" from entering run() to the guest's EXIT.
timings: dict[str, float] = {}


def run(cfg: RunConfig, image: Image) -> int:
    """Boot `image` under KVM with the settings in `cfg`; return the guest's exit status."""
    t0 = time.perf_counter()
    timings.clear()
    from .. import memlayout
    from ..config import check_mem
    from ..elfload import check
    from .vm import Vm

    check_mem(cfg.mem)
    check(image, memlayout.uhyve_split(cfg.mem)[0], cfg.mem)

    vm = Vm(cfg.mem)  # registers guest RAM with KVM in the background ...
    try:
        from .runner import boot  # ... while the rest of uhyve loads
    except BaseException:
        vm.close()
        raise
    return boot(vm, cfg, image, timings, t0)


__all__ = ["UhyveError", "run", "timings"]
