"""`proxy APP [ARGS]`: run a hermit image as HermitCore's proxy did, set up by HERMIT_*.

Keep this module's imports light: it is on the path from process start to the
first guest instruction.
"""

import _signal as signal  # the C module: `signal` adds enums, ~5 ms at start-up
import os
import sys

from . import stdfds
from .config import RunConfig, check_args, check_ports, from_environment, kvm_problem
from .elfload import load
from .errors import HermitError, Terminated, raise_terminated, say

USAGE = """usage: proxy APP [ARGS...]
Runs the hermit image APP in a VM; the guest's output and exit status are the proxy's.
Environment: HERMIT_ISLE=uhyve|qemu  HERMIT_CPUS=N  HERMIT_MEM=512M|2G  HERMIT_KVM=0
  HERMIT_VERBOSE=1  HERMIT_DEBUG=1  HERMIT_MONITOR=1  HERMIT_PORT=N  HERMIT_TIMEOUT=SECONDS
  HERMIT_APP_PORT=HOST[:GUEST],...  HERMIT_HOST_PORTS=PORT,...|all  HERMIT_CAPTURE_NET=1
  HERMIT_NETIF=TAP HERMIT_IP=A [HERMIT_GATEWAY=A HERMIT_MASK=M HERMIT_DNS=A] (root)
  HERMIT_NET=0  HERMIT_STRACE=1|FILE  HERMIT_STATS=1|FILE  HERMIT_GDB_PORT=N
  HERMIT_PROFILE=1|HZ  HERMIT_HC_POLL=0|1|always"""


class LaunchError(HermitError):
    """The chosen loader cannot run on this host."""


def launch(cfg: RunConfig, isle_explicit: bool = True, kvm_explicit: bool = False) -> int:
    """Boot cfg.image under the chosen loader; return the guest's exit status."""
    check_args(cfg.argv, cfg.env)
    check_ports(cfg)
    if cfg.tap is not None and cfg.net:
        from .net import tap

        tap.check_combination(cfg.tap, cfg.forwards, cfg.host_ports)
    elif cfg.forwards:
        from .net.options import check_forwards_free, raise_fd_limit

        check_forwards_free(cfg.forwards)  # before a VM: a port in use is one line
        raise_fd_limit()  # a host socket per forwarded connection (QEMU inherits it)
    image = load(cfg.image, cfg.mem)  # before any VM or QEMU: a bad image costs nothing
    if cfg.mounts:
        from .hostfs.policy import MountTable

        MountTable.default(cfg.mounts).close()  # a bad --mount fails here, before a VM
    if cfg.tap is not None and cfg.net:
        # before a VM: a missing device, no permission or a busy one is one line; QEMU
        # opens the device itself, uhyve's NIC keeps this fd
        cfg.tap.fd = tap.open_device(cfg.tap.ifname)
        notice = tap.down_notice(cfg.tap.ifname)
        if notice:
            say(f"proxy: {notice}")
        if cfg.isle != "uhyve":
            cfg.tap.close()
    if cfg.isle == "uhyve":
        problem = kvm_problem()
        if problem:
            raise LaunchError(f"uhyve needs KVM, but {problem}; run with HERMIT_ISLE=qemu")
        from . import uhyve

        return uhyve.run(cfg, image)
    if not isle_explicit:
        say(f"proxy: {kvm_problem()}: running under QEMU without KVM "
            "(set HERMIT_ISLE=qemu HERMIT_KVM=0 to silence this)")
        cfg.kvm = False
    from . import qemu

    return qemu.run(cfg, image, kvm_required=kvm_explicit and cfg.kvm)


def run_guarded(fn, prog: str) -> int:
    """Run fn(); turn every expected failure into one line on stderr and a status."""
    try:
        # The entry scripts exit at once on Ctrl-C while Python imports; from here on
        # KeyboardInterrupt unwinds, so a started VM or QEMU is stopped on the way out.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, raise_terminated)
        return fn()
    except HermitError as e:
        say(f"{prog}: {e}")
        return e.status
    except Terminated:
        say(f"{prog}: terminated")
        return 143
    except KeyboardInterrupt:
        say(f"{prog}: interrupted")
        return 130
    except ModuleNotFoundError as e:
        pkg = {"jinja2": "python3-jinja2", "elftools": "python3-pyelftools"}.get(
            (e.name or "").split(".")[0], f"the Python module {e.name}")
        say(f"{prog}: {e}; install {pkg}")
        return 1
    except BrokenPipeError:
        return 141
    except OSError as e:  # e.g. `hermit inspect img >/dev/full`: what failed, in one line
        say(f"{prog}: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        return 1


def flush_stdout() -> None:
    """Flush what Python buffered for stdout; a stdout that fails (closed, full disk)
    must not turn the guest's status into Python's 120 at exit."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except OSError:
        pass
    try:  # nothing is left in the buffer that could fail again at exit
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    except OSError:
        sys.stdout = None


def main(argv: list[str] | None = None) -> int:
    stdfds.occupy()
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        say(USAGE, sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    env = dict(os.environ)

    def go() -> int:
        cfg = from_environment(args[0], args, env)
        return launch(cfg, isle_explicit=bool(env.get("HERMIT_ISLE")),
                      kvm_explicit="HERMIT_KVM" in env)

    status = run_guarded(go, "proxy")
    flush_stdout()
    return status
