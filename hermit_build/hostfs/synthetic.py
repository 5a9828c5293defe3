"""What the loader serves from memory: synthetic directories, files, links and the
kernel's device nodes.

Every synthetic object lives on one fixed device, has a stable inode number derived
from its guest path (so a walk up with stat("..") ends at "/"), belongs to 0:0 and
carries fixed times: nothing of the host shows through.
"""

import os
import stat

from . import linux as L

SYNTH_DEV = os.makedev(0, 0x48)  # one fixed device for everything synthetic

HOSTNAME = "hermit"
FILES: dict[str, bytes] = {
    "/etc/hostname": f"{HOSTNAME}\n".encode(),
    "/etc/hosts": (f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                   f"127.0.1.1\t{HOSTNAME}\n").encode(),
    "/etc/resolv.conf": b"# hermit: the guest has no network yet, so no name server.\n",
    # The guest's getuid() is 0: root is the one user and group there is.
    "/etc/passwd": b"root:x:0:0:root:/:/bin/sh\n",
    "/etc/group": b"root:x:0:\n",
}
DIRS = ("/", "/dev", "/etc", "/proc", "/proc/self")


def ino_of(gpath: str) -> int:
    """A stable inode number for a synthetic path (never 0, fits in 63 bits): 64-bit
    FNV-1a of its bytes (hashlib would cost ~3 ms at start-up for a few short paths)."""
    h = 0xCBF29CE484222325
    for b in os.fsencode(gpath):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h >> 1 | 1


class Synth:
    """A synthetic object: kind is "dir", "file", "link" or "dev"."""

    __slots__ = ("kind", "gpath", "data", "node", "rdev")

    def __init__(self, kind: str, gpath: str, data: bytes = b"", node: int = 0,
                 rdev: int = 0):
        self.kind, self.gpath, self.data, self.node, self.rdev = kind, gpath, data, node, rdev

    def __repr__(self) -> str:
        return f"Synth({self.kind} {self.gpath})"

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    @property
    def mode(self) -> int:
        return {"dir": stat.S_IFDIR | 0o555, "file": stat.S_IFREG | 0o444,
                "link": stat.S_IFLNK | 0o777, "dev": stat.S_IFCHR | 0o666}[self.kind]

    def stat_bytes(self, nlink: int = 1) -> bytes:
        size = len(self.data)
        return L.STAT.pack(SYNTH_DEV, ino_of(self.gpath), nlink, self.mode, 0, 0, 0,
                           self.rdev, size, 4096, (size + 511) // 512, 0, 0, 0, 0, 0, 0)

