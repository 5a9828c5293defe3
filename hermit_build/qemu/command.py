"""The QEMU command line for one hermit image, and the facts about the host it needs.

Pure functions (no process is started here) so tests can inspect the command.
"""

import os

from .. import memlayout
from ..abi import C
from ..abi.spec import CMDLINE
from ..config import RunConfig, check_mem, kvm_is_pvm
from ..errors import HermitError
from ..net import USER_DNS

QEMU = "qemu-system-x86_64"
MIB = 1 << 20
GIB = 1 << 30
COM1 = C.COM1_PORT
DEFAULT_MACHINE = "microvm"
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"


class QemuError(HermitError):
    """The guest could not be run under QEMU; one line with a hint.  `status` is the exit status."""


class Machine:
    """A QEMU machine type: its `-machine` options and where its RAM appears to the guest.

    A plain class: `dataclasses` costs milliseconds of import time on the boot path.
    """

    __slots__ = ("name", "options", "legacy_hole", "lowmem_limit", "lowmem_split")

    def __init__(self, name: str, options: str, legacy_hole: int, lowmem_limit: int,
                 lowmem_split: int):
        self.name = name
        self.options = options
        self.legacy_hole = legacy_hole  # [legacy_hole, 1 MiB): firmware or devices, not RAM
        self.lowmem_limit = lowmem_limit  # RAM of this size or more is split around the hole
        self.lowmem_split = lowmem_split  # ... so that only this much stays below 4 GiB

    def renamed(self, name: str) -> "Machine":
        return Machine(name, self.options, self.legacy_hole, self.lowmem_limit, self.lowmem_split)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Machine) and all(
            getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self) -> str:
        return f"Machine({self.name!r})"

    def split(self, mem: int) -> tuple[int, int]:
        """Bytes of RAM below the 32-bit hole and from 4 GiB (what the kernel finds in
        QEMU's PVH memory map)."""
        return memlayout.split(mem, self.lowmem_limit, self.lowmem_split)

    def ram_regions(self, mem: int) -> list[tuple[int, int, int]]:
        """(guest-physical address, size, offset in the RAM backend) of each RAM region."""
        low, high = self.split(mem)
        regions = [(0, self.legacy_hole, 0), (MIB, low - MIB, MIB)]
        if high:
            regions.append((C.HIGH_MEM_BASE, high, low))
        return regions


# The layouts are QEMU 7.2's (checked with `info mtree`): q35 moves everything past 2 GiB
# above 4 GiB once RAM reaches 2.75 GiB, pc keeps 3.5 GiB low, microvm 3 GiB.  Below
# 1 MiB, microvm maps its firmware (qboot) at 0xf0000; pc and q35 have VGA, option ROMs
# and the BIOS from 0xa0000.
MACHINES = {
    # No firmware option ROMs (qboot loads the PVH image itself), no legacy devices or
    # ACPI tables: hermit finds nothing there it needs, and each costs boot time.
    "microvm": Machine(
        "microvm",
        "x-option-roms=off,isa-serial=off,acpi=off,pic=off,pit=off,rtc=off,auto-kernel-cmdline=off",
        0xF0000,
        3 * GIB + 1,
        3 * GIB,
    ),
    "pc": Machine("pc", "", 0xA0000, 0xE0000000, 3 * GIB),
    "q35": Machine("q35", "", 0xA0000, 0xB0000000, 2 * GIB),
}


def machine_for(name: str | None) -> Machine:
    name = name or DEFAULT_MACHINE
    if name in MACHINES:
        return MACHINES[name]
    # Versioned names share the layout of their family.
    for prefix, family in (("pc-q35-", "q35"), ("pc-i440fx-", "pc")):
        if name.startswith(prefix):
            return MACHINES[family].renamed(name)
    raise QemuError(
        f"QEMU machine type {name!r} is not supported; use HERMIT_MACHINE=microvm, pc or q35"
    )


def size_arg(n: int) -> str:
    return f"{n >> 20}M" if n % MIB == 0 else f"{n}B"


def tty_bits() -> int:
    bits = 0
    for fd, bit in ((0, C.ISATTY_STDIN), (1, C.ISATTY_STDOUT), (2, C.ISATTY_STDERR)):
        if os.isatty(fd):
            bits |= bit
    return bits


def cpuinfo_tsc_khz() -> int | None:
    """The first "cpu MHz" of /proc/cpuinfo in kHz (the TSC rate on constant-TSC CPUs)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return round(float(line.split(":", 1)[1]) * 1000)
    except (OSError, ValueError, IndexError):
        pass
    return None


def tsc_khz() -> int:
    """The host TSC frequency in kHz, 0 if unknown (the guest then has to measure it)."""
    try:
        from ..hosttsc import host_tsc_khz
    except ImportError:
        khz = None
    else:
        khz = host_tsc_khz()
    return khz or cpuinfo_tsc_khz() or 0


def kernel_cmdline(cfg: RunConfig, tsc: int, tty: int, pvm: bool = False) -> str:
    """What the kernel's PVH entry parses (QEMU hands it over in the PVH start info; guest
    RAM the kernel reads from the start info's memory map)."""
    values = {"abi_version": str(C.ABI_VERSION), "cpus": str(cfg.cpus), "tsc_khz": str(tsc),
              "tty": str(tty), "uart_port": f"{COM1:#x}" if cfg.uart else "0",
              "pvm": "1" if pvm else None, "trace": "1" if cfg.strace else None,
              "stats": "1" if cfg.stats else None}  # boot_info fields; keys: spec.CMDLINE's
    tap = cfg.tap.boot_info() if cfg.tap is not None and cfg.net else {}
    for field in ("net_ip", "net_mask", "net_gw"):
        values[field] = str(tap[field]) if tap else None
    return " ".join(f"hermit.{key}={values[field]}"
                    for key, field in CMDLINE.items() if values[field] is not None)


# QEMU's user networking (the guest's virtio-net, drivers/net/virtio_net.c): the same
# addresses as uhyve's libslirp (net/slirp.py) and the same MAC.
NIC_MAC = "52:54:00:12:34:56"


def netdev_args(cfg: RunConfig, machine: Machine) -> list[str]:
    """`-netdev user` (`-netdev tap` with HERMIT_NETIF) and a virtio-net: on microvm's
    virtio-mmio, on pc and q35 a modern-only virtio-net-pci without its option ROM.
    QEMU's user networking cannot open the host's loopback port by port: `restrict=on`
    (no host, no outside; forwards still work) unless HERMIT_HOST_PORTS=all, and a list
    of ports is refused."""
    if not cfg.net:
        return []
    mac = NIC_MAC
    if cfg.tap is not None:
        from ..net.tap import vhost_usable

        # QEMU opens the device (the loader checked it can, net/tap.py); vhost-net keeps
        # the frames in the host kernel where /dev/vhost-net is there and usable
        opts = f"tap,id=net0,ifname={cfg.tap.ifname},script=no,downscript=no"
        opts += ",vhost=on" if vhost_usable() else ""
        # QEMU's filter-dump writes tap's virtio-net header before each frame
        opts += ",vnet_hdr=off" if cfg.capture_net else ""
        mac = cfg.tap.mac_text
    elif cfg.host_ports and cfg.host_ports != "all":
        raise QemuError("HERMIT_HOST_PORTS lists ports, but QEMU's user networking cannot "
                        "open the host's loopback port by port: run under uhyve "
                        "(HERMIT_ISLE=uhyve), or give the guest every port with "
                        "HERMIT_HOST_PORTS=all")
    else:
        opts = f"user,id=net0,net=10.0.2.0/24,host=10.0.2.2,dhcpstart=10.0.2.15,dns={USER_DNS}"
        opts += ",restrict=off" if cfg.host_ports == "all" else ",restrict=on"
        opts += "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in cfg.forwards)
    if machine.name == "microvm":
        args = ["-global", "virtio-mmio.force-legacy=false", "-netdev", opts,
                "-device", f"virtio-net-device,netdev=net0,mac={mac}"]
    else:
        args = ["-netdev", opts, "-device",
                f"virtio-net-pci,netdev=net0,mac={mac},disable-legacy=on,romfile="]
    if cfg.capture_net:
        from ..net.options import CAPTURE_FILE

        args += ["-object", f"filter-dump,id=capture,netdev=net0,file={CAPTURE_FILE}"]
    return args


def build_command(
    cfg: RunConfig,
    *,
    kvm: bool | None = None,
    kernel: str | None = None,
    ram_fd: int = 3,
    hc_fd: int = 4,
    con_fd: int = 5,
    tsc: int = 0,
    tty: int = 0,
    qemu: str = QEMU,
) -> list[str]:
    """argv for QEMU.  The runner owns the file descriptors: `ram_fd` is the guest RAM
    (a memfd), `hc_fd` and `con_fd` are connected sockets for the hypercall UART and for
    COM1 (the kernel's own console, only with cfg.uart)."""
    machine = machine_for(cfg.machine)
    check_mem(cfg.mem)
    if kvm is None:
        kvm = cfg.kvm
    mopts = f"{machine.name},{machine.options}," if machine.options else f"{machine.name},"
    cmd = [
        qemu,
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        # QEMU is not under the runner's Landlock (its own process): seccomp keeps it
        # from spawning programs, gaining privileges or using obsolete system calls.
        "-sandbox", SANDBOX,
        "-object",
        f"memory-backend-file,id=ram,size={cfg.mem},mem-path=/proc/self/fd/{ram_fd},share=on",
        "-machine", mopts + "memory-backend=ram",
        "-m", size_arg(cfg.mem),
        "-smp", str(cfg.cpus),
    ]  # fmt: skip
    if kvm:
        # IA32_ARCH_CAPABILITIES is of no use to hermit, and nested hypervisors that
        # refuse to set it make QEMU abort ("failed to set MSR 0x10a").
        cmd += ["-accel", "kvm", "-cpu", "host,-arch-capabilities"]
    else:
        cmd += ["-accel", "tcg", "-cpu", "max"]
    cmd += [
        "-chardev", f"socket,id=hc,fd={hc_fd}",
        "-device", f"isa-serial,iobase={C.HC_UART_PORT:#x},irq=3,chardev=hc",
    ]  # fmt: skip
    if cfg.uart:
        cmd += [
            "-chardev", f"socket,id=con,fd={con_fd}",
            "-device", f"isa-serial,iobase={COM1:#x},irq=4,chardev=con",
        ]  # fmt: skip
    if cfg.debug:  # on the loopback only, as the monitor (QEMU's -s listens everywhere)
        cmd += ["-gdb", f"tcp:127.0.0.1:{cfg.gdb_port}", "-S"]
    if cfg.monitor:
        cmd += ["-monitor", f"telnet:127.0.0.1:{cfg.port + 1},server=on,wait=off"]
    cmd += netdev_args(cfg, machine)
    pvm = kvm and kvm_is_pvm()
    cmd += ["-kernel", kernel or cfg.image, "-append", kernel_cmdline(cfg, tsc, tty, pvm)]
    return cmd
