"""The guest's mount table: what of the host's files the guest may see.

The guest sees the host's working directory (at the same path, writable) and the
directories the user maps with `--mount HOST[:GUEST][:ro]` / HERMIT_MOUNT, like a
container's bind mounts.  Each mount is held as an O_PATH directory fd opened once
here; every later lookup starts from such an fd and walks one component at a time
(resolve.py), so the host kernel, not a path string, keeps the guest inside.

Around the mounts the loader serves synthetic, read-only objects (synthetic.py):
`/` and every ancestor of a mount (listing only the way down), `/dev` with the
kernel's devices, `/etc` with hostname, hosts, resolv.conf, passwd and group, and
`/proc/self/exe`.  A mount at or below /dev, /etc or /proc hides the synthetic
objects it covers; a mount further up (`/:/:ro`) does not, as in a container.
"""

import errno
import os
import posixpath
import stat

from ..abi.spec import DEVICES
from ..errors import HermitError
from .synthetic import DIRS, FILES, Synth

PRIVATE_DIRS = ("/tmp", "/dev/shm")  # a run's own, unless mounted (privtmp.py)


class MountError(HermitError):
    """A --mount / HERMIT_MOUNT specification is malformed."""


class GuestError(OSError):
    """An error returned to the guest as -errno."""


class Mount:
    __slots__ = ("host", "guest", "readonly", "fd", "root_id")

    def __init__(self, host: str, guest: str, readonly: bool):
        self.host, self.guest, self.readonly = host, guest, readonly
        self.fd = -1  # O_PATH|O_DIRECTORY fd of the host directory, once opened
        self.root_id = (0, 0)  # (st_dev, st_ino) of that directory

    def __repr__(self) -> str:
        return f"Mount({self.host!r} at {self.guest!r}{', ro' if self.readonly else ''})"

    def open(self) -> None:
        try:
            self.fd = os.open(self.host, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise MountError(f"mount {self.host}: {e.strerror}") from None
        st = os.fstat(self.fd)
        self.root_id = (st.st_dev, st.st_ino)


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
    return Mount(host, "/" + posixpath.normpath(guest).lstrip("/"), mode == "ro")


def ancestors(gpath: str) -> list[str]:
    """"/a/b/c" -> ["/", "/a", "/a/b"]."""
    out, p = [], gpath
    while p != "/":
        p = posixpath.dirname(p)
        out.append(p)
    return out[::-1]


def _covered(gpath: str, mounts: list[Mount]) -> Mount | None:
    """The mount whose tree holds gpath (its root or below), innermost first."""
    for m in mounts:
        if gpath == m.guest or gpath.startswith(m.guest.rstrip("/") + "/"):
            return m
    return None


class MountTable:
    """The guest namespace: mounts by guest path, the synthetic objects beside them,
    and the mounts by the identity of their host directory."""

    def __init__(self, mounts: list[Mount], cwd: str, image: str | None = None):
        # A later mount at the same guest path replaces an earlier one, as mount(8) does.
        by_path = {m.guest: m for m in mounts}
        self.mounts = sorted(by_path.values(), key=lambda m: len(m.guest), reverse=True)
        self.cwd = cwd  # the guest path of the initial working directory
        try:
            for m in self.mounts:
                m.open()
        except MountError:
            self.close()
            raise
        # (st_dev, st_ino) -> mount for every mount root; a read-only one wins a tie,
        # so a directory that two mounts share is never writable through the other.
        self.roots: dict[tuple[int, int], Mount] = {}
        for m in sorted(self.mounts, key=lambda m: m.readonly):
            self.roots[m.root_id] = m
        # guest path -> Synth or Mount: what a lookup finds there before the host.
        self.overlay: dict[str, Synth | Mount] = {}
        # Ancestors of a mount that lie inside another mount: used only when the host
        # directory lacks them, so the way down to the inner mount exists.
        self.fallback: dict[str, Synth] = {}
        synth = [Synth("dir", d) for d in DIRS]
        synth += [Synth("file", p, data) for p, data in FILES.items()]
        synth += [Synth("dev", p, node=n, rdev=os.makedev(major, minor))
                  for p, (n, major, minor) in DEVICES.items()]
        if image:
            synth.append(Synth("link", "/proc/self/exe", os.fsencode(image)))
        for s in synth:
            if not self._hidden(s.gpath):
                self.overlay[s.gpath] = s
        for m in self.mounts:
            self.overlay[m.guest] = m
            for a in ancestors(m.guest):
                outer = _covered(a, self.mounts)
                if outer is None:
                    self.overlay.setdefault(a, Synth("dir", a))
                elif a != outer.guest:
                    self.fallback.setdefault(a, Synth("dir", a))

    def _hidden(self, gpath: str) -> bool:
        """Whether a mount hides the synthetic object at gpath: one at or below its
        top directory (/etc, /dev, /proc) does; one further up, such as `/:/:ro`, does
        not, as a container's /dev and /proc lie over its root."""
        top = "/" + gpath.split("/")[1] if gpath != "/" else "/"
        return any(_covered(m.guest, [Mount("", top, False)]) and
                   _covered(gpath, [m]) for m in self.mounts)

    @classmethod
    def default(cls, specs: list[str], host_cwd: str | None = None,
                image: str | None = None, private=None) -> "MountTable":
        """private(name): the host directory of a private /tmp or /dev/shm, called
        for each that no mount (the user's, or the working directory) is at."""
        cwd = os.path.realpath(host_cwd or os.getcwd())
        mounts = [Mount(cwd, cwd, False)] + [parse_mount(s, cwd) for s in specs]
        if private:
            taken = {m.guest for m in mounts}
            mounts[:0] = [Mount(private(g.rsplit("/", 1)[1]), g, False)
                          for g in PRIVATE_DIRS if g not in taken]
        image = os.path.realpath(image) if image else None
        return cls(mounts, cwd, image)

    def replace_file(self, gpath: str, data: bytes) -> None:
        """Another content for a synthetic file (the tap network's /etc/resolv.conf),
        unless a mount hides it."""
        s = self.overlay.get(gpath)
        if isinstance(s, Synth) and s.kind == "file":
            s.data = data

    def close(self) -> None:
        for m in self.mounts:
            if m.fd >= 0:
                os.close(m.fd)
                m.fd = -1

    def children(self, gpath: str) -> list[str]:
        """Names the synthetic directory gpath lists: the way down to mounts, files."""
        prefix = gpath.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.overlay
                      if p.startswith(prefix) and "/" not in p[len(prefix):] and p != "/")

    def mount_of_dir(self, st: os.stat_result) -> Mount | None:
        if stat.S_ISDIR(st.st_mode):
            return self.roots.get((st.st_dev, st.st_ino))
        return None


def erofs(what: str = "read-only file system") -> GuestError:
    return GuestError(errno.EROFS, what)
