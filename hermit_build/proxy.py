"""`proxy APP [ARGS]`: run a hermit image as HermitCore's proxy did, set up by HERMIT_*.

Keep this module's imports light: it is on the path from process start to the
first guest instruction.
"""

import os
import signal
import sys

from .config import RunConfig, from_environment, kvm_problem
from .elfload import load
from .errors import HermitError, Terminated, raise_terminated

USAGE = """usage: proxy APP [ARGS...]
Runs the hermit image APP in a VM; the guest's output and exit status are the proxy's.
Environment: HERMIT_ISLE=uhyve|qemu  HERMIT_CPUS=N  HERMIT_MEM=512M|2G  HERMIT_KVM=0
  HERMIT_VERBOSE=1  HERMIT_DEBUG=1  HERMIT_MONITOR=1  HERMIT_PORT=N  HERMIT_TIMEOUT=SECONDS"""


class LaunchError(HermitError):
    """The chosen loader cannot run on this host."""


def launch(cfg: RunConfig, isle_explicit: bool = True, kvm_explicit: bool = False) -> int:
    """Boot cfg.image under the chosen loader; return the guest's exit status."""
    image = load(cfg.image)
    if cfg.mounts:
        from .hostfs.policy import MountTable

        MountTable.default(cfg.mounts).close()  # a bad --mount fails here, before a VM
    if cfg.isle == "uhyve":
        problem = kvm_problem()
        if problem:
            raise LaunchError(f"uhyve needs KVM, but {problem}; run with HERMIT_ISLE=qemu")
        from . import uhyve

        return uhyve.run(cfg, image)
    if not isle_explicit:
        print(f"proxy: {kvm_problem()}: running under QEMU without KVM "
              "(set HERMIT_ISLE=qemu HERMIT_KVM=0 to silence this)", file=sys.stderr)
        cfg.kvm = False
    from . import qemu

    return qemu.run(cfg, image, kvm_required=kvm_explicit and cfg.kvm)


def run_guarded(fn, prog: str) -> int:
    """Run fn(); turn every expected failure into one line on stderr and a status."""
    try:
        signal.signal(signal.SIGTERM, raise_terminated)
        return fn()
    except HermitError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return e.status
    except Terminated:
        print(f"{prog}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        pkg = {"jinja2": "python3-jinja2", "elftools": "python3-pyelftools"}.get(
            (e.name or "").split(".")[0], f"the Python module {e.name}")
        print(f"{prog}: {e}; install {pkg}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 141


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    env = dict(os.environ)

    def go() -> int:
        cfg = from_environment(args[0], args, env)
        return launch(cfg, isle_explicit=bool(env.get("HERMIT_ISLE")),
                      kvm_explicit="HERMIT_KVM" in env)

    status = run_guarded(go, "proxy")
    sys.stdout.flush()
    return status
