"""The loader's file service driven from Python: a guest's file system calls without a
VM (guest memory is a bytearray), for the resolver's unit and property tests."""

import errno
import os
import stat

from hermit_build.guestmem import GuestMemory
from hermit_build.hostfs import linux as L
from hermit_build.hostfs.policy import MountTable
from hermit_build.hostfs.service import FileService

SCRATCH = 0x80000  # guest buffers for results; strings go below it
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT, O_EXCL, O_TRUNC = 0o100, 0o200, 0o1000
O_NOFOLLOW, O_DIRECTORY = 0o400000, 0o200000


class Guest:
    """g.open("x", O_RDONLY) -> handle or -errno; g.call("stat", ...) for any call.
    String arguments are copied into guest memory; device opens return (0, node)."""

    def __init__(self, cwd: str, mounts: list[str] = (), image: str | None = None):
        self.ram = bytearray(1 << 20)
        self.mem = GuestMemory([(0, len(self.ram), self.ram, 0)])
        self.fs = FileService(self.mem, MountTable.default(list(mounts), cwd, image))
        self.top = 0x1000

    def close(self) -> None:
        self.fs.close_all()

    def _str(self, text: str | bytes) -> int:
        data = (os.fsencode(text) if isinstance(text, str) else text) + b"\0"
        if self.top + len(data) >= SCRATCH:
            self.top = 0x1000
        addr, self.top = self.top, self.top + len(data) + 7 & ~7
        self.mem.write(addr, data)
        return addr

    def call(self, name: str, *args):
        a = [self._str(x) if isinstance(x, (str, bytes)) else x & (1 << 64) - 1 for x in args]
        ret, node = self.fs.call(L.NR[name], tuple(a + [0] * (6 - len(a))))
        return (ret, node) if node else ret

    def __getattr__(self, name: str):
        if name not in L.NR:
            raise AttributeError(name)
        return lambda *args: self.call(name, *args)

    # -- conveniences ------------------------------------------------------------------

    def stat(self, path: str, follow: bool = True):
        """(mode, dev, ino, uid, rdev) of path, or -errno."""
        ret = self.call("stat" if follow else "lstat", path, SCRATCH)
        if ret < 0:
            return ret
        f = L.STAT.unpack(self.mem.read(SCRATCH, L.STAT.size))
        return f[3], f[0], f[1], f[4], f[7]

    def read_all(self, fd: int) -> bytes:
        out = b""
        while (n := self.read(fd, SCRATCH, 4096)) > 0:
            out += self.mem.read(SCRATCH, n)
        assert n == 0, n
        return out

    def write_bytes(self, fd: int, data: bytes) -> int:
        self.mem.write(SCRATCH, data)
        return self.write(fd, SCRATCH, len(data))

    def getcwd(self) -> str:
        n = self.call("getcwd", SCRATCH, 4096)
        assert n > 0, n
        return os.fsdecode(self.mem.read(SCRATCH, n - 1))

    def readlink(self, path: str):
        n = self.call("readlink", path, SCRATCH, 4096)
        return n if n < 0 else os.fsdecode(self.mem.read(SCRATCH, n))

    def listdir(self, path: str) -> list[str] | int:
        fd = self.open(path, O_RDONLY | O_DIRECTORY)
        if fd < 0:
            return fd
        names = []
        while (n := self.getdents64(fd, SCRATCH, 8192)) > 0:
            raw, off = self.mem.read(SCRATCH, n), 0
            while off < n:
                _ino, _o, size, _t = L.DIRENT_HEAD.unpack_from(raw, off)
                names.append(raw[off + L.DIRENT_HEAD.size:off + size].rstrip(b"\0").decode())
                off += size
        assert self.close_fd(fd) == 0
        return sorted(names)

    def close_fd(self, fd: int) -> int:
        return self.call("close", fd)

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return not isinstance(st, int) and stat.S_ISDIR(st[0])


def err(name: str) -> int:
    return -getattr(errno, name)
