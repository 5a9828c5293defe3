"""The host's TSC frequency, for loaders that cannot ask KVM about their own vCPU (QEMU).

    host_tsc_khz() -> kHz or None

KVM knows it exactly (KVM_GET_TSC_KHZ on a throwaway vCPU); without a usable
/dev/kvm, /proc/cpuinfo's "cpu MHz" is the best guess (exact on hosts with an
invariant TSC that report their nominal clock there).
"""

import os
from fcntl import ioctl

from .uhyve import kvm

CPUINFO = "/proc/cpuinfo"


def kvm_tsc_khz(device: str = kvm.DEVICE) -> int | None:
    """KVM's TSC frequency for a new vCPU (the host's, unless scaled), or None."""
    fds: list[int] = []
    try:
        fds.append(os.open(device, os.O_RDWR | os.O_CLOEXEC))
        if ioctl(fds[0], kvm.GET_API_VERSION) != kvm.API_VERSION:
            return None
        fds.append(ioctl(fds[0], kvm.CREATE_VM, 0))
        fds.append(ioctl(fds[1], kvm.CREATE_VCPU, 0))
        khz = ioctl(fds[2], kvm.GET_TSC_KHZ)
        return khz if khz > 0 else None
    except OSError:
        return None
    finally:
        for fd in reversed(fds):
            os.close(fd)


def cpuinfo_tsc_khz(path: str = CPUINFO) -> int | None:
    """The first "cpu MHz" line of /proc/cpuinfo in kHz, or None."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "cpu MHz":
                    khz = round(float(value) * 1000)
                    return khz if khz > 0 else None
    except (OSError, ValueError):
        pass
    return None


def host_tsc_khz() -> int | None:
    """The host TSC frequency in kHz: from KVM, else /proc/cpuinfo, else None."""
    return kvm_tsc_khz() or cpuinfo_tsc_khz()
