"""The proxy's stdin, stdout and stderr as it found them at start.

A descriptor 0-2 that the caller left closed (`proxy app >&-`) is filled with
/dev/null at once, so that no descriptor the loader opens later (QEMU's memfd,
/dev/kvm, a guest's file) lands on it and is mistaken for a standard stream.
`closed` remembers which ones were closed: the guest's fds stay closed there.
"""

import os

closed: frozenset[int] = frozenset()
_done = False


def occupy() -> frozenset[int]:
    """Fill each closed fd 0-2 with /dev/null (once); return the set that was closed."""
    global closed, _done
    if _done:
        return closed
    found = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            found.add(fd)
        try:
            new = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        except OSError:  # no /dev/null (a bare chroot): the fd stays free, as before
            continue
        if new != fd:  # the lower fds are open, so only a race puts it elsewhere
            os.dup2(new, fd)
            os.close(new)
        os.set_inheritable(fd, True)
    closed, _done = frozenset(found), True
    return closed


def host_fds() -> tuple[int, int, int]:
    """The host fds behind the guest's 0-2 (-1 where the proxy had none)."""
    return tuple(-1 if fd in closed else fd for fd in (0, 1, 2))  # type: ignore[return-value]
