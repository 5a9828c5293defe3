"""libslirp (uhyve's, and QEMU's own copy) listens on each forwarded host port with a
backlog of 1: the host's kernel then drops the SYNs of all but the first two clients
still waiting for slirp's accept, and 1,000 clients connecting at once wait for their
SYN retransmits (1 s, 3 s, 7 s, ...).  A listen() again on the same socket sets a new
backlog, so the loaders widen it: uhyve on its own socket right after slirp made it,
the QEMU runner on QEMU's through pidfd_getfd (QEMU is its child; where the host
refuses, connections are only slower)."""

import ctypes
import os
import socket
import threading
import time

BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
_SYS_PIDFD_GETFD = 438  # x86_64
_SCAN = 512  # the fds looked at: slirp's listeners are made early, at low numbers


def widen(fd: int, port: int) -> bool:
    """If `fd` is a TCP socket listening on 127.0.0.1:port, listen again with BACKLOG."""
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False  # not a socket (or gone)
    try:
        if (s.family != socket.AF_INET or s.type != socket.SOCK_STREAM
                or not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                or s.getsockname() != ("127.0.0.1", port)):
            return False
        s.listen(BACKLOG)
        return True
    except OSError:
        return False
    finally:
        s.close()  # the dup only


def lowest_free_fd() -> int:
    """The fd number the next socket() gets (POSIX: the lowest free one)."""
    fd = os.eventfd(0, os.EFD_CLOEXEC)
    os.close(fd)
    return fd


def widen_own(port: int, hint: int) -> bool:
    """This process's listener on `port`: `hint` first (the fd slirp most likely got),
    then the others."""
    return widen(hint, port) or any(widen(fd, port) for fd in range(3, _SCAN) if fd != hint)


def widen_in_child(pid: int, ports: list[int], within_s: float = 5.0) -> threading.Thread | None:
    """Widen QEMU's listeners on `ports` from a thread, as soon as QEMU has made them
    (its network is set up while it starts); gives up after `within_s`.  The pidfd
    is taken now (before the runner confines itself)."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def run() -> None:
        left, deadline = set(ports), time.monotonic() + within_s
        try:
            while left and time.monotonic() < deadline:
                for fd in range(3, _SCAN):
                    got = libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
                    if got < 0:
                        if ctypes.get_errno() == 1:  # EPERM: the host does not allow it
                            return
                        continue
                    try:
                        left -= {p for p in left if widen(got, p)}
                    finally:
                        os.close(got)
                    if not left:
                        return
                time.sleep(0.02)
        finally:
            os.close(pidfd)

    t = threading.Thread(target=run, name="hermit-backlog", daemon=True)
    t.start()
    return t
