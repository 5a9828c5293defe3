"""The loader gives up the capabilities that let root ignore file permissions.

Run as root (CI does), the loader's file service would otherwise write a file
whose mode says read-only, read one whose mode says private, or chown files for
the guest: root's DAC override ignores mode bits.  After setup the loader drops
from its effective, permitted and inheritable sets exactly the capabilities Linux
itself counts as file-system ones (CAP_FS_MASK: chown, dac_override,
dac_read_search, fowner, fsetid, linux_immutable, mknod, mac_override); what is
left of root is an ordinary owner of uid 0's files.  Capabilities are per thread:
call it before starting the others.  A process without them changes nothing.
"""

import ctypes
import os

_NR_CAPGET, _NR_CAPSET = 125, 126
_VERSION_3 = 0x20080522
FS_CAPS = {0: "chown", 1: "dac_override", 2: "dac_read_search", 3: "fowner", 4: "fsetid",
           9: "linux_immutable", 27: "mknod", 32: "mac_override"}  # CAP_FS_MASK
CAP_SETPCAP = 8  # may drop capabilities from the bounding set (for a child: setpriv)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_syscall = ctypes.CDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long


def _capcall(nr: int, header: _Header, data) -> None:
    if _syscall(ctypes.c_long(nr), ctypes.byref(header), data) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def capabilities() -> tuple[int, int, int]:
    """This thread's (effective, permitted, inheritable) capability sets as bit masks."""
    data = (_Data * 2)()
    _capcall(_NR_CAPGET, _Header(_VERSION_3, 0), data)
    return tuple(getattr(data[0], f) | getattr(data[1], f) << 32
                 for f in ("effective", "permitted", "inheritable"))  # type: ignore[return-value]


def setpriv_fs_caps() -> list[str]:
    """setpriv(1) options that start a child without FS_CAPS (empty when this process
    may not drop them from the bounding set, and then has none of them to pass on
    unless it is given them by file capabilities)."""
    if not capabilities()[0] >> CAP_SETPCAP & 1:
        return []
    return ["--bounding-set", ",".join("-" + name for name in FS_CAPS.values())]


def drop_fs_caps() -> None:
    """Remove FS_CAPS from this thread's effective, permitted and inheritable sets."""
    mask = sum(1 << c for c in FS_CAPS)
    sets = capabilities()
    if not any(s & mask for s in sets):
        return
    kept = [s & ~mask for s in sets]
    data = (_Data * 2)()
    for i in range(2):
        data[i].effective, data[i].permitted, data[i].inheritable = (
            (s >> (32 * i)) & 0xFFFFFFFF for s in kept)
    _capcall(_NR_CAPSET, _Header(_VERSION_3, 0), data)
