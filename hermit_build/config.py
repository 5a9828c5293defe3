"""How to run one image: the settings both loaders share, parsed from HERMIT_* or flags."""

import os

from .abi import C
from .errors import HermitError

DEFAULT_MEM = 2 << 30  # HermitCore's default: 2 GiB (untouched pages cost the host nothing)
# The kernel and its page bitmaps, the image (hello: 5.6 MiB with its .bss), the
# application's 8 MiB stack and a heap: `hello` needs 20M, 32M leaves room.
MIN_MEM = 32 << 20
MAX_CPUS = C.MAX_CPUS
HERMIT_PORT = 18766
GDB_PORT = 1234  # QEMU's -s; uhyve's GDB server listens there too (HERMIT_GDB_PORT)
MONITOR_PORT_OFFSET = 1  # QEMU's monitor listens on HERMIT_PORT + 1
MAX_TIMEOUT = 366 * 24 * 3600  # HERMIT_TIMEOUT: at most a (leap) year of seconds


class ConfigError(HermitError):
    """A setting the user gave is malformed; the message names it and the fix."""


class RunConfig:
    """Plain class, not a dataclass: `dataclasses` costs ~6 ms on the boot path."""

    def __init__(self, image: str, argv: list[str], env: list[str] | None = None, **settings):
        self.image = image
        self.argv = argv
        self.env: list[str] = env or []
        self.isle = "uhyve"  # "uhyve" or "qemu"
        self.mem = DEFAULT_MEM
        self.cpus = 1
        self.kvm = True  # QEMU only: accelerate with KVM
        self.timeout: float | None = None
        self.verbose = False  # print the kernel log at exit
        self.debug = False  # wait for GDB on gdb_port (uhyve: its own server)
        self.gdb_port = GDB_PORT
        self.monitor = False  # QEMU only: monitor on telnet HERMIT_PORT+1
        self.port = HERMIT_PORT
        # HERMIT_APP_PORT: (host port, guest port) forwards to the guest (net/options.py)
        self.forwards: list[tuple[int, int]] = []
        # HERMIT_HOST_PORTS: the host loopback ports the guest may reach at 10.0.2.2
        # (a frozenset, or "all")
        self.host_ports: frozenset[int] | str = frozenset()
        self.capture_net = False  # HERMIT_CAPTURE_NET: a pcap of the guest's frames
        self.net = True  # offer the guest a NIC (HERMIT_NET=0: none)
        # HERMIT_NETIF and the static address (net/tap.py's Tap); None: user-mode network
        self.tap = None
        self.machine: str | None = None  # QEMU machine type; None: the fastest that serves
        self.uart = False  # also copy kernel messages to the serial console
        # serve file calls from a polling thread, without a VM exit or doorbell each
        # (poller.py); None: when the host has more cpus than the guest vCPUs (QEMU:
        # with KVM only)
        self.hc_poll: bool | str | None = None  # None: auto; "always": even on a busy host
        self.mounts: list[str] = []  # HOST[:GUEST][:ro] besides the working directory
        self.profile = 0  # uhyve: sample the vCPUs this many times a second (0: no profile)
        # Landlock this process to the mounts once the VM is set up (landlock.py): the
        # proxy does; off by default for callers whose process goes on afterwards.
        self.landlock = False
        # HERMIT_STRACE / HERMIT_STATS: None (off), "-" (stderr) or a file to write
        self.strace: str | None = None
        self.stats: str | None = None
        for name, value in settings.items():
            if not hasattr(self, name):
                raise TypeError(f"RunConfig has no setting {name!r}")
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"RunConfig({vars(self)!r})"


_SHIFT = {"": 20, "k": 10, "m": 20, "g": 30}


def parse_mem(text: str, name: str = "HERMIT_MEM") -> int:
    """A size like 512M, 2G, 2GiB or 1024 (MiB, as HermitCore's proxy read it)."""
    t = text.strip().lower()
    digits = t[: len(t) - len(t.lstrip("0123456789"))]
    unit = t[len(digits):].removesuffix("b").removesuffix("i")
    if not digits or unit not in _SHIFT or (unit == "" and t != digits):
        raise ConfigError(f"{name}={text!r} is not a size; use e.g. 512M or 2G")
    value = int(digits) << _SHIFT[unit]
    if value < MIN_MEM:
        raise ConfigError(f"{name}={text!r} is too small; hermit needs at least "
                          f"{MIN_MEM >> 20}M")
    check_mem(value, f"{name}={text!r}")
    return value


def check_mem(value: int, what: str = "HERMIT_MEM") -> None:
    """Refuse more guest RAM than hermit gives (the loaders call it too)."""
    if value > C.MAX_MEM:
        raise ConfigError(f"{what} is too large: hermit gives a guest at most "
                          f"{C.MAX_MEM >> 30}G of memory")


def _number(text: str) -> int | None:
    t = text.strip()
    return int(t) if t.isdigit() and t.isascii() else None


def parse_cpus(text: str, name: str = "HERMIT_CPUS") -> int:
    n = _number(text)
    if n is None or not 1 <= n <= MAX_CPUS:
        raise ConfigError(f"{name}={text!r} is not a cpu count; use a number from 1 to {MAX_CPUS}")
    return n


def parse_bool(text: str) -> bool:
    return text.strip().lower() not in ("", "0", "no", "false", "off")


PROFILE_HZ = 999  # near 1 kHz, out of step with the guest's millisecond timers
MAX_PROFILE_HZ = 10_000


def parse_profile(text: str, name: str = "HERMIT_PROFILE") -> int:
    """`1`/`on`: the default rate; a number of samples a second; `0`/empty: off."""
    t = text.strip().lower()
    if t in ("", "0", "no", "off", "false"):
        return 0
    if t in ("1", "yes", "on", "true"):
        return PROFILE_HZ
    n = _number(t)
    if n is None or not 2 <= n <= MAX_PROFILE_HZ:
        raise ConfigError(f"{name}={text!r}: 1 (about {PROFILE_HZ} samples a second) or a "
                          f"rate from 2 to {MAX_PROFILE_HZ} Hz")
    return n
def parse_output(text: str) -> str | None:
    """HERMIT_STRACE / HERMIT_STATS: off (0, no, empty), "-" for stderr (1, yes), or a file."""
    t = text.strip()
    if t.lower() in ("", "0", "no", "false", "off"):
        return None
    return "-" if t.lower() in ("1", "yes", "true", "on", "-") else t


def parse_port(text: str, name: str) -> int:
    n = _number(text)
    if n is None or not 1 <= n <= 65535:
        raise ConfigError(f"{name}={text!r} is not a TCP port (1-65535)")
    return n


def parse_timeout(text: str, name: str = "HERMIT_TIMEOUT") -> float | None:
    """Seconds as digits with an optional fraction (`90`, `2.5`, `.5`); 0 is no timeout
    (None); at most MAX_TIMEOUT.  No signs, exponents, nan or inf: one grammar for both
    loaders and the `--timeout` flag."""
    t = text.strip()
    whole, dot, frac = t.partition(".")
    digits = whole + frac
    if not digits or not (digits.isascii() and digits.isdigit()) or "." in frac:
        raise ConfigError(f"{name}={text!r} is not a number of seconds; use e.g. 30 or 2.5 "
                          f"(0: no timeout)")
    seconds = float(t)
    if seconds > MAX_TIMEOUT:
        raise ConfigError(f"{name}={text!r} is too long; the most is {MAX_TIMEOUT} s "
                          f"(366 days), or 0 for no timeout")
    return seconds or None


def check_ports(cfg: "RunConfig") -> None:
    """Every port derived from HERMIT_PORT must be a TCP port."""
    if cfg.monitor and cfg.port + MONITOR_PORT_OFFSET > 65535:
        raise ConfigError(f"HERMIT_PORT={cfg.port} leaves no port for the monitor "
                          f"(HERMIT_PORT+{MONITOR_PORT_OFFSET}); use at most "
                          f"{65535 - MONITOR_PORT_OFFSET} with HERMIT_MONITOR=1")


def check_args(argv: list[str], env: list[str]) -> None:
    """Arguments and environment must fit the guest's stack as the kernel lays them out
    (strings and pointers, like Linux's ARG_MAX accounting)."""
    strings = sum(len(os.fsencode(s)) + 1 for s in argv) + sum(
        len(os.fsencode(s)) + 1 for s in env)
    total = strings + 8 * (len(argv) + len(env) + 2)
    if total > C.ARGS_MAX:
        raise ConfigError(
            f"arguments and environment take {total} bytes with their pointers; a hermit "
            f"guest takes at most {C.ARGS_MAX >> 20} MiB: pass fewer (e.g. `hermit run "
            f"--no-env`) or put them in a file",
            status=126)


def kvm_device(environ: dict[str, str] | None = None) -> str:
    return (os.environ if environ is None else environ).get("HERMIT_KVM_DEVICE", "/dev/kvm")


def kvm_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why hermit cannot use KVM on this host, or None when it can."""
    dev = kvm_device(environ)
    if not os.path.exists(dev):
        return f"{dev} does not exist (no KVM on this host)"
    if not os.access(dev, os.R_OK | os.W_OK):
        return f"{dev} is not accessible to you (join group kvm)"
    return None


def kvm_is_pvm() -> bool:
    """The host's KVM is kvm_pvm (pagetable-based VM): the kernel must ask it for
    native execution of its supervisor code (boot_info.pvm / hermit.pvm=1)."""
    return os.path.isdir("/sys/module/kvm_pvm") and not any(
        os.path.isdir(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd"))


def kvm_usable(environ: dict[str, str] | None = None) -> bool:
    return kvm_problem(environ) is None


def from_environment(image: str, argv: list[str], environ: dict[str, str]) -> RunConfig:
    """Settings from the HERMIT_* variables of HermitCore's proxy."""
    cfg = RunConfig(image=image, argv=argv, env=[f"{k}={v}" for k, v in environ.items()])
    isle = environ.get("HERMIT_ISLE", "").strip().lower()
    if isle in ("", "auto"):
        cfg.isle = "uhyve" if kvm_usable(environ) else "qemu"
    elif isle in ("uhyve", "hyve"):
        cfg.isle = "uhyve"
    elif isle == "qemu":
        cfg.isle = "qemu"
    else:
        raise ConfigError(f"HERMIT_ISLE={isle!r} is not a loader; use uhyve or qemu")
    if "HERMIT_MEM" in environ:
        cfg.mem = parse_mem(environ["HERMIT_MEM"])
    if "HERMIT_CPUS" in environ:
        cfg.cpus = parse_cpus(environ["HERMIT_CPUS"])
    if "HERMIT_KVM" in environ:
        cfg.kvm = parse_bool(environ["HERMIT_KVM"])
    cfg.verbose = parse_bool(environ.get("HERMIT_VERBOSE", "0"))
    cfg.debug = parse_bool(environ.get("HERMIT_DEBUG", "0"))
    if "HERMIT_GDB_PORT" in environ:
        cfg.gdb_port = parse_port(environ["HERMIT_GDB_PORT"], "HERMIT_GDB_PORT")
    cfg.monitor = parse_bool(environ.get("HERMIT_MONITOR", "0"))
    if "HERMIT_PORT" in environ:
        cfg.port = parse_port(environ["HERMIT_PORT"], "HERMIT_PORT")
    if any(k in environ for k in ("HERMIT_APP_PORT", "HERMIT_HOST_PORTS")):
        from .net import options  # not on the boot path of a run without them

        if "HERMIT_APP_PORT" in environ:
            cfg.forwards = options.parse_forwards(environ["HERMIT_APP_PORT"])
        if "HERMIT_HOST_PORTS" in environ:
            cfg.host_ports = options.parse_host_ports(environ["HERMIT_HOST_PORTS"])
    cfg.capture_net = parse_bool(environ.get("HERMIT_CAPTURE_NET", "0"))
    cfg.net = parse_bool(environ.get("HERMIT_NET", "1"))
    # net/tap.py's VARIABLES (not imported here: the boot path of a run without them)
    if any(environ.get(k, "").strip() for k in ("HERMIT_NETIF", "HERMIT_IP", "HERMIT_GATEWAY",
                                                "HERMIT_MASK", "HERMIT_DNS")):
        from .net import tap

        cfg.tap = tap.from_settings(environ)
    if "HERMIT_TIMEOUT" in environ:
        cfg.timeout = parse_timeout(environ["HERMIT_TIMEOUT"])
    cfg.machine = environ.get("HERMIT_MACHINE") or None
    cfg.uart = parse_bool(environ.get("HERMIT_UART", "0"))
    poll = environ.get("HERMIT_HC_POLL", "").strip().lower()
    if poll == "always":
        cfg.hc_poll = poll
    elif poll not in ("", "auto"):
        cfg.hc_poll = parse_bool(poll)
    cfg.landlock = parse_bool(environ.get("HERMIT_LANDLOCK", "1"))
    if "HERMIT_PROFILE" in environ:
        cfg.profile = parse_profile(environ["HERMIT_PROFILE"])
    cfg.strace = parse_output(environ.get("HERMIT_STRACE", ""))
    cfg.stats = parse_output(environ.get("HERMIT_STATS", ""))
    cfg.mounts = [s for s in (p.strip() for p in environ.get("HERMIT_MOUNT", "").split(","))
                  if s]
    return cfg
