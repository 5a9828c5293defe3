"""The compiled transfers (_hermit_fastio, pyext/) against the Python path they stand
in for: the same calls, hostile ones included, through two file services over two
copies of one guest memory and one directory; results, guest memory and host files
must match byte for byte (no VM: guest memory is bytearrays)."""

import errno
import os
import sys
import threading
import time

import pytest

from hermit_build.guestmem import GuestMemory
from hermit_build.hostfs import linux as L
from hermit_build.hostfs.fdtable import OpenFile
from hermit_build.hostfs.policy import MountTable
from hermit_build.hostfs.service import FileService

LOW, HIGH = (0, 1 << 16), (1 << 20, 1 << 16)  # two RAM blocks with a hole between
U64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def rw(sdk):
    """The SDK's module: a build without it fails here (the fallback is tested apart)."""
    sys.path.insert(0, str(sdk / "lib/hermit/python"))
    try:
        from _hermit_fastio import rw
    finally:
        sys.path.pop(0)
    return rw


def memory() -> GuestMemory:
    regions = []
    for start, size in (LOW, HIGH):
        buf = bytearray((start // 4096 + i) % 251 for i in range(size))
        regions.append((start, size, buf, 0))
    return GuestMemory(regions)


class Side:
    """One file service with files of its own, in its own copy of `tmp`."""

    def __init__(self, root, fast):
        self.root = root
        self.svc = FileService(memory(), MountTable.default([], str(root)), std=(0, 1, 2))
        self.svc.load_fast(False)
        if fast:
            self.svc.fast_rw = fast
        (root / "data").write_bytes(bytes(range(256)) * 64)
        (root / "ro").write_bytes(b"read only")
        os.mkdir(root / "dir")
        self.r, self.w = os.pipe()
        self.h = {
            "data": self.install(os.open(root / "data", os.O_RDWR)),
            "ro": self.install(os.open(root / "ro", os.O_RDONLY)),
            "dir": self.install(os.open(root / "dir", os.O_RDONLY | os.O_DIRECTORY)),
            "pipe": self.install(os.dup(self.r)),
            "app": self.install(os.open(root / "app", os.O_WRONLY | os.O_CREAT | os.O_APPEND)),
        }
        self.closed = self.install(os.open(root / "data", os.O_RDONLY))
        assert self.call("close", self.closed) == 0

    def install(self, fd):
        return self.svc.fds.install(OpenFile(fd, None))

    def call(self, name, *args):
        return self.svc.call(L.NR[name], (*args, *(0,) * (6 - len(args))))[0]

    def state(self):
        files = {p.name: p.read_bytes() for p in self.root.iterdir() if p.is_file()}
        return [bytes(r[2]) for r in self.svc.mem.regions], files

    def close(self):
        self.svc.close_all()
        os.close(self.r)
        os.close(self.w)


@pytest.fixture
def sides(tmp_path, rw):
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    py, c = Side(tmp_path / "py", None), Side(tmp_path / "c", rw)
    yield py, c
    py.close()
    c.close()


BUFS = [  # (address, count): inside, at the edges, across the hole, overflowing
    (0x100, 64), (0, 1), (LOW[1] - 64, 64), (LOW[1] - 64, 65), (LOW[1], 8),
    (HIGH[0], HIGH[1]), (HIGH[0] - 1, 2), (HIGH[0] + HIGH[1], 0), (HIGH[0] + HIGH[1], 1),
    (U64, 2), (U64 - 7, 8), (0x100, U64), (0x100, 1 << 31), ((1 << 31) + 1, 1 << 31),
    (0x100, (1 << 31) + 1), (0x100, 1 << 63), (1 << 40, 0), (1 << 40, 16), (0x100, 0),
]
OFFSETS = [0, 100, 16383, 1 << 20, (1 << 63) - 1, 1 << 63, U64]


def cases():
    for name in ("read", "write"):
        for target in ("data", "ro", "dir", "pipe", "app", "closed", "bad", "wrapped"):
            for addr, count in BUFS:
                yield name, target, addr, count, None
    for name in ("pread64", "pwrite64"):
        for target in ("data", "ro", "dir", "pipe", "app", "closed"):
            for addr, count in BUFS:
                for off in OFFSETS:
                    yield name, target, addr, count, off


def handle(side, target):
    if target == "closed":
        return side.closed
    if target == "bad":
        return 1500
    if target == "wrapped":  # s32: the kernel passes an int, the high half is noise
        return side.h["data"] | 0xABCD << 32
    return side.h[target]


def test_the_compiled_path_answers_as_the_python_path(sides):
    py, c = sides
    os.write(py.w, bytes(1 << 16))  # the pipes never block a read here
    os.write(c.w, bytes(1 << 16))
    seen = set()
    for name, target, addr, count, off in cases():
        args = (addr, count) if off is None else (addr, count, off)
        want = py.call(name, handle(py, target), *args)
        got = c.call(name, handle(c, target), *args)
        assert got == want, (name, target, args)
        seen.add(min(want, 1))
    assert seen == {1, 0, -errno.EFAULT, -errno.EINVAL, -errno.EBADF, -errno.EISDIR,
                    -errno.ESPIPE}
    assert c.state() == py.state()


def test_the_compiled_path_is_taken_and_moves_the_bytes(sides):
    py, c = sides
    calls = []

    def counting(*args):
        calls.append(args[1])
        return c.svc.fast_rw.__wrapped__(*args)

    counting.__wrapped__ = c.svc.fast_rw
    c.svc.fast_rw = counting
    c.svc.mem.write(0x200, b"hello, host")
    assert c.call("pwrite64", c.h["data"], 0x200, 11, 5) == 11
    assert c.call("pread64", c.h["data"], 0x300, 16, 0) == 16
    assert c.svc.mem.read(0x300, 16) == bytes(range(5)) + b"hello, host"
    assert c.call("write", 1500, 0x200, 4) == -errno.EBADF  # the Python path says so
    assert calls == [3, 2]
    assert (c.root / "data").read_bytes()[:16] == bytes(range(5)) + b"hello, host"


def test_a_blocked_compiled_read_survives_a_close(sides):
    _py, c = sides
    h = c.h["pipe"]
    f = c.svc.fds.get(h)
    os.set_blocking(c.r, True)
    out = []
    t = threading.Thread(target=lambda: out.append(c.call("read", h, 0x400, 16)), daemon=True)
    t.start()
    time.sleep(0.2)
    assert t.is_alive() and f.busy == 1  # in the host without the GIL or the lock
    assert c.call("close", h) == 0
    assert c.call("read", h, 0x400, 16) == -errno.EBADF
    os.fstat(f.fd)  # pinned: the waiting read still uses it
    os.write(c.w, b"late")
    t.join(5)
    assert out == [4] and c.svc.mem.read(0x400, 4) == b"late"
    assert f.busy == 0 and f.fd == -1  # closed by the read on its way out


def test_without_the_module_the_python_path_serves(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "_hermit_fastio", None)  # import fails
    side = Side(tmp_path, None)
    side.svc.load_fast()
    assert side.svc.fast_rw is None
    side.svc.mem.write(0x100, b"x" * 8)
    assert side.call("write", side.h["data"], 0x100, 8) == 8
    assert (tmp_path / "data").read_bytes()[:8] == b"x" * 8
    side.close()
