"""What the guest may see of the host's files, enforced by the loader.

The guest sees the host's current directory (at the same path, writable) and the
directories the user maps with `--mount HOST[:GUEST][:ro]` / HERMIT_MOUNT, nothing
else.  Guest paths are resolved lexically (`..` never climbs above `/`), mapped to
the host through the mount with the longest guest prefix, and the host path is
checked after resolving symlinks: a `..` or a symlink that leaves the mount is
refused with EACCES; writes to a read-only mount fail with EROFS.
"""

import errno
import os
import posixpath

from ..errors import HermitError


class MountError(HermitError):
    """A --mount / HERMIT_MOUNT specification is malformed."""


class Mount:
    __slots__ = ("host", "guest", "readonly")

    def __init__(self, host: str, guest: str, readonly: bool):
        self.host, self.guest, self.readonly = host, guest, readonly

    def __repr__(self) -> str:
        return f"Mount({self.host!r} at {self.guest!r}{', ro' if self.readonly else ''})"


def parse_mount(spec: str, cwd: str) -> Mount:
    """HOST[:GUEST][:ro|:rw] -> Mount; HOST relative to cwd; GUEST defaults to HOST."""
    parts = spec.split(":")
    mode = "rw"
    if len(parts) > 1 and parts[-1] in ("ro", "rw"):
        mode = parts.pop()
    if not parts[0] or len(parts) > 2:
        raise MountError(f"mount {spec!r} is not HOST[:GUEST][:ro]")
    host = os.path.realpath(os.path.join(cwd, parts[0]))
    if not os.path.isdir(host):
        raise MountError(f"mount {spec!r}: {host} is not a directory")
    guest = parts[1] if len(parts) == 2 and parts[1] else host
    if not guest.startswith("/"):
        raise MountError(f"mount {spec!r}: the guest path must be absolute")
    return Mount(host, posixpath.normpath(guest).replace("//", "/"), mode == "ro")


class GuestError(OSError):
    """An error returned to the guest as -errno."""


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class MountTable:
    def __init__(self, mounts: list[Mount], cwd: str):
        # Longest guest prefix first, so nested mounts win.
        self.mounts = sorted(mounts, key=lambda m: len(m.guest), reverse=True)
        self.cwd = cwd  # the guest's working directory (a guest path)

    @classmethod
    def default(cls, specs: list[str], host_cwd: str | None = None) -> "MountTable":
        cwd = os.path.realpath(host_cwd or os.getcwd())
        mounts = [Mount(cwd, cwd, False)] + [parse_mount(s, cwd) for s in specs]
        return cls(mounts, cwd)

    def guest_abs(self, path: str, base: str | None = None) -> str:
        if "\0" in path:
            raise GuestError(errno.EINVAL, "NUL in path")
        joined = posixpath.join(base or self.cwd, path)
        norm = posixpath.normpath(joined)
        return "/" + norm.lstrip("/")  # normpath keeps a leading '//'

    def mount_for(self, gpath: str) -> Mount:
        for m in self.mounts:
            if _within(gpath, m.guest):
                return m
        raise GuestError(errno.EACCES, f"{gpath} is outside the guest's mounts")

    def resolve(self, path: str, *, base: str | None = None, follow: bool = True,
                write: bool = False) -> tuple[str, str, Mount]:
        """(host path, guest path, mount) for a guest path, or GuestError(-errno)."""
        if path == "":
            raise GuestError(errno.ENOENT, "empty path")
        gpath = self.guest_abs(path, base)
        m = self.mount_for(gpath)
        if write and m.readonly:
            raise GuestError(errno.EROFS, f"{m.guest} is mounted read-only")
        rest = gpath[len(m.guest):].lstrip("/")
        host = os.path.join(m.host, rest) if rest else m.host
        parent, name = os.path.split(host) if rest else (host, "")
        real_parent = os.path.realpath(parent)
        if not _within(real_parent, m.host):
            raise GuestError(errno.EACCES, f"{gpath} leaves its mount")
        host = os.path.join(real_parent, name) if name else real_parent
        if follow and os.path.lexists(host):
            real = os.path.realpath(host)
            if not _within(real, m.host):
                raise GuestError(errno.EACCES, f"{gpath} is a symlink out of its mount")
            host = real
        return host, gpath, m
