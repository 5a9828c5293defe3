"""The QEMU runner: boot a hermit image with `-kernel` (PVH) and serve its hypercalls.

`run(cfg, image)` returns the guest's exit status; `build_command(cfg, ...)` is the
QEMU command line it uses; failures raise `QemuError` (one line, `status` attribute).
"""

from .command import MACHINES, QemuError, build_command
from .runner import run

__all__ = ["MACHINES", "QemuError", "build_command", "run"]
