"""Host calls that may block, served without stopping the others.

The file service has one lock for its state (the descriptor table, the working
directory, the namespace).  A call that may wait on the host (a read of a terminal
or a pipe, a write to a full pipe, flock, F_SETLKW, fsync, a terminal drain) gives
the lock up while it waits: the other vCPUs' calls go on, and a guest that
deadlocks itself blocks only its own threads.  Its file stays pinned meanwhile
(fdtable.py), so that a close by another thread never lets it act on a reused host
fd.  For the descriptors the guest shares with the loader (0-2) the guest's
O_NONBLOCK is emulated here: poll with a zero timeout first, EAGAIN when not ready.
"""

from __future__ import annotations

import errno
import os
import select
import threading

from .fdtable import OpenFile

TYPE_CHECKING = False  # typing costs start-up time; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

PIPE_BUF = 4096  # a non-blocking write to a ready pipe or terminal takes at least this


class ServiceLock:
    """A lock that knows its holder.

    The timeout, Ctrl-C and a stop raise their exception from a signal handler in the
    main thread, wherever a call is (even while it waits to take the lock back):
    release() does nothing unless this thread holds the lock, so that exception is
    never replaced by a RuntimeError.  The VM is ending then; its last step takes the
    lock with a timeout (FileService.close_all).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = 0
        self.waiting = 0  # calls in the host without the lock (or cut short there)

    def acquire(self, timeout: float = -1) -> bool:
        if not self._lock.acquire(timeout=timeout):
            return False
        self._owner = threading.get_ident()
        return True

    def release(self) -> None:
        if self._owner == threading.get_ident():
            self._owner = 0
            self._lock.release()

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def outside(lock: ServiceLock, f: OpenFile, op: Callable[[int], T]) -> T:
    """op(host fd of f), run without the service's lock (the caller holds it)."""
    f.busy += 1
    lock.waiting += 1
    lock.release()
    try:
        result = op(f.fd)
    except ORDINARY:
        _back(lock, f)
        raise
    # Anything else ends the VM (the timeout, Ctrl-C, a stop): leave the lock and
    # the file alone, another thread may hold the lock for good.
    _back(lock, f)
    return result


ORDINARY = (OSError, ValueError, OverflowError)  # failures the guest sees as an errno


def _back(lock: ServiceLock, f: OpenFile) -> None:
    lock.acquire()
    lock.waiting -= 1
    f.busy -= 1
    if f.closed and not f.busy:
        try:
            f.close()  # the guest closed it meanwhile (its close returned 0)
        except OSError:
            pass


def transfer(lock: ServiceLock, f: OpenFile, views: list[memoryview], write: bool,
             op: Callable[[int, list[memoryview]], int]) -> int:
    """A read or write, op(host fd, views), outside the lock; with the guest's own
    O_NONBLOCK on a descriptor shared with the loader."""
    st = f.status
    if st is None:
        return outside(lock, f, lambda fd: op(fd, views))
    nonblock = bool(st.flags & os.O_NONBLOCK) and not st.regular  # files are always ready
    event = select.POLLOUT if write else select.POLLIN
    if nonblock and write:
        views = _cap(views, PIPE_BUF)  # what a ready pipe takes without blocking

    def emulated(fd: int) -> int:
        if nonblock and not _ready(fd, event, 0):
            raise BlockingIOError(errno.EAGAIN, "would block")
        while True:
            try:
                return op(fd, views)
            except BlockingIOError:
                if nonblock:
                    raise
                # Someone else sharing the description made it non-blocking: the
                # guest asked to wait, so wait.
                _ready(fd, event, None)

    return outside(lock, f, emulated)


def _ready(fd: int, event: int, timeout_ms: int | None) -> bool:
    p = select.poll()
    p.register(fd, event)
    return bool(p.poll(timeout_ms))  # POLLHUP and POLLERR count: the call returns at once


def _cap(views: list[memoryview], limit: int) -> list[memoryview]:
    out, left = [], limit
    for v in views:
        if left <= 0:
            break
        out.append(v[:left])
        left -= len(v)
    return out
