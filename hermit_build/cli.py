"""`hermit`: run images with flags (overriding HERMIT_*), inspect them, write cross-files."""

import argparse
import os
import sys

from . import config, stdfds
from .abi import C
from .proxy import flush_stdout, launch, run_guarded


def _run(a: argparse.Namespace) -> int:
    env = dict(os.environ)
    cfg = config.from_environment(a.image, [a.image] + a.args, env)
    isle_explicit = bool(env.get("HERMIT_ISLE"))
    kvm_explicit = "HERMIT_KVM" in env
    if a.isle:
        cfg.isle, isle_explicit = a.isle, True
    if a.mem:
        cfg.mem = config.parse_mem(a.mem, "--mem")
    if a.cpus:
        cfg.cpus = config.parse_cpus(a.cpus, "--cpus")
    if a.kvm is not None:
        cfg.kvm, kvm_explicit = a.kvm, True
    if a.timeout is not None:
        cfg.timeout = config.parse_timeout(a.timeout, "--timeout")
    if a.machine:
        cfg.machine = a.machine
    cfg.verbose |= a.verbose
    cfg.debug |= a.debug
    cfg.uart |= a.uart
    if a.strace or a.strace_file:
        cfg.strace = a.strace_file or "-"
    if a.stats or a.stats_file:
        cfg.stats = a.stats_file or "-"
    if a.no_env:
        cfg.env = []
    cfg.mounts += a.mount
    cfg.landlock &= not a.no_landlock
    if a.profile is not None:
        cfg.profile = config.parse_profile(a.profile, "--profile")
    if a.publish or a.host_ports is not None:
        from .net import options

        for p in a.publish:
            cfg.forwards += options.parse_forwards(p, "-p")
        if a.host_ports is not None:
            cfg.host_ports = options.parse_host_ports(a.host_ports, "--host-ports")
    cfg.capture_net |= a.capture_net
    flags = {f"HERMIT_{k.upper()}": (f"--{k}", v) for k, v in
             (("netif", a.netif), ("ip", a.ip), ("gateway", a.gateway), ("mask", a.mask),
              ("dns", a.dns)) if v is not None}
    if flags:
        from .net import tap

        values = {k: env.get(k, "") for k in tap.VARIABLES}
        values.update({k: v for k, (_n, v) in flags.items()})
        cfg.tap = tap.from_settings(values, {k: n for k, (n, _v) in flags.items()})
    return launch(cfg, isle_explicit=isle_explicit, kvm_explicit=kvm_explicit)


def _inspect(a: argparse.Namespace) -> int:
    from .elfload import load

    img = load(a.image)
    print(f"{a.image}: hermit image, entry {img.entry:#x}")
    for s in img.segments:
        print(f"  load {s.paddr:#010x}  file {s.filesz:>8}  mem {s.memsz:>8}")
    kib = (img.end - C.KERNEL_BASE) // 1024
    print(f"  image ends at {img.end:#x} ({kib} KiB above the kernel base)")
    return 0


def _cross_file(a: argparse.Namespace) -> int:
    from .toolchain import render_cross_file

    text = render_cross_file(a.prefix)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _deb(a: argparse.Namespace) -> int:
    from . import deb

    return deb.run(a)


def _binfmt(a: argparse.Namespace) -> int:
    from .deb import binfmt

    if a.action == "register":
        binfmt.register(a.interpreter)
        print(f"hermit: images with ELF OSABI {C.IMAGE_OSABI:#x} now run through {a.interpreter}")
    elif a.action == "unregister":
        done = binfmt.unregister()
        print("hermit: unregistered" if done else "hermit: images were not registered")
    elif a.action == "rule":
        print(binfmt.rule(a.interpreter))
    else:
        info = binfmt.status()
        if info is None:
            print("hermit: images are not registered with binfmt_misc")
            return 1
        print(f"hermit: images run through {info.get('interpreter', '?')} ({info['state']})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hermit", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run an image (flags override HERMIT_* variables)")
    r.add_argument("--isle", choices=["uhyve", "qemu"], help="loader (HERMIT_ISLE)")
    r.add_argument("--mem", help="guest memory, e.g. 512M or 2G (HERMIT_MEM)")
    r.add_argument("--cpus", help="number of cpus (HERMIT_CPUS)")
    r.add_argument("--kvm", action=argparse.BooleanOptionalAction, default=None,
                   help="QEMU with or without KVM (HERMIT_KVM)")
    r.add_argument("--machine", help="QEMU machine type: microvm (default), pc, q35")
    r.add_argument("--timeout", help="stop the guest after SECONDS (exit 124; 0: never)")
    r.add_argument("--verbose", "-v", action="store_true", help="print the kernel log at exit")
    r.add_argument("--debug", action="store_true",
                   help="QEMU waits for GDB on :1234 (HERMIT_GDB_PORT)")
    r.add_argument("--uart", action="store_true", help="kernel messages on the serial console")
    r.add_argument("--strace", action="store_true",
                   help="print each system call on stderr (HERMIT_STRACE=1)")
    r.add_argument("--strace-file", metavar="FILE",
                   help="write the system-call trace to FILE (HERMIT_STRACE=FILE)")
    r.add_argument("--stats", action="store_true",
                   help="print run statistics at exit on stderr (HERMIT_STATS=1)")
    r.add_argument("--stats-file", metavar="FILE",
                   help="write the run statistics to FILE (HERMIT_STATS=FILE)")
    r.add_argument("--no-env", action="store_true", help="do not pass the host environment")
    r.add_argument("--mount", action="append", default=[], metavar="HOST[:GUEST][:ro]",
                   help="let the guest see a host directory (HERMIT_MOUNT, comma-separated)")
    r.add_argument("-p", "--publish", action="append", default=[], metavar="HOST[:GUEST]",
                   help="forward the host's loopback port to the guest (HERMIT_APP_PORT)")
    r.add_argument("--host-ports", metavar="PORT,...|all",
                   help="host loopback ports the guest reaches at 10.0.2.2 (HERMIT_HOST_PORTS)")
    r.add_argument("--netif", metavar="TAP",
                   help="root: the guest on this tap device, at --ip (HERMIT_NETIF)")
    r.add_argument("--ip", help="the guest's address with --netif (HERMIT_IP)")
    r.add_argument("--gateway", help="with --netif; default: the subnet's first address "
                   "(HERMIT_GATEWAY)")
    r.add_argument("--mask", help="with --netif; default: 255.255.255.0 (HERMIT_MASK)")
    r.add_argument("--dns", help="with --netif: the guest's name server; default: the "
                   "host's (HERMIT_DNS)")
    r.add_argument("--capture-net", action="store_true",
                   help="write the guest's frames to hermit-net.pcap (HERMIT_CAPTURE_NET)")
    r.add_argument("--no-landlock", action="store_true",
                   help="do not confine the loader with Landlock (HERMIT_LANDLOCK=0)")
    r.add_argument("--profile", nargs="?", const="1", metavar="HZ",
                   help="uhyve: sample the guest (about 1 kHz, or HZ) and write a flame graph "
                   "(HERMIT_PROFILE)")
    r.add_argument("image")
    r.add_argument("args", nargs=argparse.REMAINDER)
    r.set_defaults(fn=_run)
    i = sub.add_parser("inspect", help="check an image and show its segments")
    i.add_argument("image")
    i.set_defaults(fn=_inspect)
    c = sub.add_parser("cross-file", help="write a Meson cross-file for an SDK prefix")
    c.add_argument("--prefix", default=os.path.realpath(os.path.join(
        os.path.dirname(os.path.realpath(sys.argv[0])), "..")))
    c.add_argument("-o", "--output")
    c.set_defaults(fn=_cross_file)
    d = sub.add_parser("deb", help="build the Debian packages from the Meson install tree")
    from .deb import add_arguments

    add_arguments(d)
    d.set_defaults(fn=_deb)
    b = sub.add_parser("binfmt", help="run images directly (./app) through binfmt_misc")
    b.add_argument("action", choices=["register", "unregister", "status", "rule"],
                   help="status exits 1 when not registered; rule prints the binfmt.d line")
    b.add_argument("--interpreter", default=os.path.join(os.path.dirname(
        os.path.realpath(sys.argv[0])), "proxy"), help="the proxy (default: beside hermit)")
    b.set_defaults(fn=_binfmt)
    return p


def main(argv: list[str] | None = None) -> int:
    stdfds.occupy()
    a = parser().parse_args(argv)
    status = run_guarded(lambda: a.fn(a), "hermit")
    flush_stdout()
    return status
