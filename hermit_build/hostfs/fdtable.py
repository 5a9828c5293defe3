"""The guest's file descriptors: guest fd -> a host fd the loader owns.

Guest fds 0-2 start as duplicates of the loader's stdin/stdout/stderr.  Numbers
are allocated lowest-first as POSIX requires; several guest fds may share one
open file description after dup (each has its own host fd from os.dup).
"""

import errno
import os

from .policy import GuestError

MAX_FDS = 1024


class OpenFile:
    __slots__ = ("fd", "gpath", "cloexec", "readonly", "dir_entries", "dir_pos")

    def __init__(self, fd: int, gpath: str | None, cloexec: bool = False,
                 readonly: bool = False):
        self.fd = fd
        self.gpath = gpath  # the guest path it was opened as (for *at calls), if any
        self.cloexec = cloexec
        self.readonly = readonly  # on a read-only mount: no fchmod, futimens
        self.dir_entries: list[bytes] | None = None  # getdents64 records, read once
        self.dir_pos = 0


class FdTable:
    def __init__(self, std: tuple[int, int, int] = (0, 1, 2)):
        self.files: dict[int, OpenFile] = {}
        for guest_fd, host_fd in enumerate(std):
            try:
                self.files[guest_fd] = OpenFile(os.dup(host_fd), None)
            except OSError:
                pass  # the loader itself has no such stream: the guest's fd stays closed

    def get(self, fd: int) -> OpenFile:
        f = self.files.get(fd)
        if f is None:
            raise GuestError(errno.EBADF, "bad file descriptor")
        return f

    def lowest_free(self, start: int = 0) -> int:
        fd = max(start, 0)
        while fd in self.files:
            fd += 1
        if fd >= MAX_FDS:
            raise GuestError(errno.EMFILE, "too many open files")
        return fd

    def install(self, f: OpenFile, at: int | None = None, start: int = 0) -> int:
        fd = self.lowest_free(start) if at is None else at
        if at is not None and at in self.files:
            self.close(at)
        self.files[fd] = f
        return fd

    def close(self, fd: int) -> None:
        f = self.files.pop(fd, None)
        if f is None:
            raise GuestError(errno.EBADF, "bad file descriptor")
        os.close(f.fd)

    def close_all(self) -> None:
        for fd in list(self.files):
            self.close(fd)
