"""The file service's poll (hostfs/ops_poll.py), which the kernel's poll, select and
epoll use for host files: driven from Python, guest memory a bytearray.  The kernel
is hostile too: bad counts, handles and addresses are errnos, never a loader error."""

import errno
import os
import select
import struct
import threading
import time

from hermit_build.guestmem import GuestMemory
from hermit_build.hostfs import linux as L
from hermit_build.hostfs.fdtable import OpenFile
from hermit_build.hostfs.policy import MountTable
from hermit_build.hostfs.service import FileService

FDS = 0x1000
POLLFD = struct.Struct("<ihh")


def service(tmp_path) -> FileService:
    mem = GuestMemory([(0, 1 << 17, bytearray(1 << 17), 0)])
    return FileService(mem, MountTable.default([], str(tmp_path)), std=(0, 1, 2))


def poll(svc, entries, timeout_ms: int) -> tuple[int, list[int]]:
    svc.mem.write(FDS, b"".join(POLLFD.pack(h, e, 0) for h, e in entries))
    ret = svc.call(L.NR["poll"], (FDS, len(entries), timeout_ms, 0, 0, 0))[0]
    raw = svc.mem.read(FDS, len(entries) * POLLFD.size)
    return ret, [r for _, _, r in POLLFD.iter_unpack(raw)]


def test_a_pipe_waits_without_the_lock_and_a_file_is_ready(tmp_path, pipe):
    r, w = pipe
    svc = service(tmp_path)
    rd = svc.fds.install(OpenFile(os.dup(r), None))
    path = tmp_path / "f"
    path.write_text("x")
    reg = svc.fds.install(OpenFile(os.open(path, os.O_RDONLY), None))
    assert poll(svc, [(rd, select.POLLIN)], 0) == (0, [0])
    assert poll(svc, [(reg, select.POLLIN)], 0) == (1, [select.POLLIN])  # files never block
    out = []
    t = threading.Thread(target=lambda: out.append(poll(svc, [(rd, select.POLLIN)], 10000)))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.3)
    assert t.is_alive() and svc.fds.get(rd).busy == 1  # waiting in the host, pinned
    path.write_text("y")  # the service's lock is free meanwhile (no call blocks on it)
    assert poll(svc, [(reg, select.POLLIN)], 0)[0] == 1
    os.write(w, b"z")
    t.join(10)
    assert out == [(1, [select.POLLIN])] and 0.25 < time.monotonic() - t0 < 5
    assert svc.fds.get(rd).busy == 0
    os.close(w)
    assert poll(svc, [(rd, select.POLLIN)], 0) == (1, [select.POLLIN | select.POLLHUP])


def test_the_timeout_is_kept(tmp_path, pipe):
    svc = service(tmp_path)
    rd = svc.fds.install(OpenFile(os.dup(pipe[0]), None))
    t0 = time.monotonic()
    assert poll(svc, [(rd, select.POLLIN)], 200) == (0, [0])
    assert 0.15 < time.monotonic() - t0 < 3


def test_hostile_arguments(tmp_path, pipe):
    svc = service(tmp_path)
    rd = svc.fds.install(OpenFile(os.dup(pipe[0]), None))
    assert poll(svc, [(12345, select.POLLIN), (rd, select.POLLIN)], 0) == \
        (1, [select.POLLNVAL, 0])
    call = svc.call
    assert call(L.NR["poll"], (FDS, 65, 0, 0, 0, 0))[0] == -errno.EINVAL
    assert call(L.NR["poll"], (FDS, (1 << 64) - 1, 0, 0, 0, 0))[0] == -errno.EINVAL
    assert call(L.NR["poll"], (1 << 40, 1, 0, 0, 0, 0))[0] == -errno.EFAULT
    assert call(L.NR["poll"], (FDS, 0, 0, 0, 0, 0))[0] == 0
    t0 = time.monotonic()  # a negative timeout is no wait, not for ever
    assert poll(svc, [(rd, select.POLLIN)], -1 & (1 << 64) - 1) == (0, [0])
    assert time.monotonic() - t0 < 2
