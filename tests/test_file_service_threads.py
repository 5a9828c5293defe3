"""The file service called from several threads at once, as the loaders' vCPU threads
and QEMU workers do (no VM: guest memory is a bytearray)."""

import errno
import fcntl
import os
import threading
import time

import pytest

from hermit_build.guestmem import GuestMemory
from hermit_build.hostfs import linux as L
from hermit_build.hostfs.fdtable import OpenFile
from hermit_build.hostfs.policy import MountTable
from hermit_build.hostfs.service import FileService

BUF = 0x1000  # a guest buffer address


def service(tmp_path, stdin: int, stdout: int = 1) -> FileService:
    mem = GuestMemory([(0, 1 << 17, bytearray(1 << 17), 0)])
    return FileService(mem, MountTable.default([], str(tmp_path)), std=(stdin, stdout, 2))


def call(svc: FileService, name: str, *args: int) -> int:
    return svc.call(L.NR[name], (*args, *(0,) * (6 - len(args))))[0]  # ret of (ret, node)


def in_thread(fn):
    """Start fn() on a thread; the returned list gets its result."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


def test_a_blocked_read_holds_no_lock_and_survives_a_close(tmp_path, pipe):
    r, w = pipe
    svc = service(tmp_path, 0)
    fd = svc.fds.install(OpenFile(os.dup(r), None))
    f = svc.fds.get(fd)
    t, out = in_thread(lambda: call(svc, "read", fd, BUF, 16))
    time.sleep(0.2)
    assert t.is_alive() and f.busy == 1  # waiting in the host, its file pinned
    t0 = time.monotonic()
    assert call(svc, "close", fd) == 0  # the service's lock is free meanwhile
    assert time.monotonic() - t0 < 1
    assert call(svc, "fstat", fd, BUF) == -errno.EBADF  # the number is gone ...
    os.fstat(f.fd)  # ... the host fd is not: the waiting read still uses it
    os.write(w, b"late")
    t.join(5)
    assert out == [4] and svc.mem.read(BUF, 4) == b"late"
    assert f.busy == 0
    with pytest.raises(OSError):  # closed by the read on its way out
        os.fstat(f.fd)


def test_flock_waits_outside_the_lock(tmp_path):
    svc = service(tmp_path, 0)
    path = tmp_path / "lock"
    path.write_bytes(b"")
    a = svc.fds.install(OpenFile(os.open(path, os.O_RDWR), None))
    b = svc.fds.install(OpenFile(os.open(path, os.O_RDWR), None))
    assert call(svc, "flock", a, fcntl.LOCK_EX) == 0
    t, out = in_thread(lambda: call(svc, "flock", b, fcntl.LOCK_EX))
    time.sleep(0.2)
    assert t.is_alive()  # the guest deadlocked itself, as on Linux ...
    assert call(svc, "flock", a, fcntl.LOCK_UN) == 0  # ... yet other calls go on
    t.join(5)
    assert out == [0]
    svc.close_all()


def test_nonblocking_stdin_is_emulated(tmp_path, pipe):
    r, w = pipe
    svc = service(tmp_path, r)
    assert call(svc, "fcntl", 0, L.F_SETFL, os.O_NONBLOCK) == 0
    assert call(svc, "fcntl", 0, L.F_GETFL) & os.O_NONBLOCK
    assert not fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK  # the loader's own stdin
    assert call(svc, "read", 0, BUF, 8) == -errno.EAGAIN
    os.write(w, b"x")
    assert call(svc, "read", 0, BUF, 8) == 1
    assert call(svc, "fcntl", 0, L.F_SETFL, 0) == 0
    assert not call(svc, "fcntl", 0, L.F_GETFL) & os.O_NONBLOCK
    svc.close_all()


def test_blocking_read_waits_though_the_shared_description_is_nonblocking(tmp_path, pipe):
    r, w = pipe
    svc = service(tmp_path, r)
    fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK)  # someone else sharing the proxy's stdin
    t, out = in_thread(lambda: call(svc, "read", 0, BUF, 8))
    time.sleep(0.2)
    assert t.is_alive()  # the guest asked to wait: no EAGAIN
    os.write(w, b"ok")
    t.join(5)
    assert out == [2]
    svc.close_all()


def test_nonblocking_write_to_a_full_pipe(tmp_path, pipe):
    r, w = pipe
    svc = service(tmp_path, 0, stdout=w)
    assert call(svc, "fcntl", 1, L.F_SETFL, os.O_NONBLOCK) == 0
    sent = 0
    while (n := call(svc, "write", 1, BUF, 65536)) > 0:
        assert n <= 4096  # no more than a ready pipe takes without blocking
        sent += n
    assert n == -errno.EAGAIN and sent >= 4096
    svc.close_all()
