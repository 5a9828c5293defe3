"""Guest path resolution, one component at a time, against the guest's mount table.

A path and the target of every symlink met are guest paths: an absolute target
restarts at the guest's root, `..` climbs in guest space (at a mount's root into
the guest directory above it, at `/` nowhere).  Each host step opens a single name
with O_PATH|O_NOFOLLOW relative to the directory fd of the step before, starting
from an fd the mount table opened at start; `..` and names with `/` never reach the
host, and symlinks are read (readlinkat on the parent) and resolved here.  So what a
step reaches is pinned by an fd: a symlink swapped in later is met as a symlink and
resolved in guest space again, never followed by the host.

(openat2 with RESOLVE_BENEATH would pin a walk inside one mount, but it refuses
absolute symlinks and `..` at the mount's root instead of resolving them in the
guest's namespace, which the bind-mount semantics need; the single-name walk gives
both and needs nothing newer than Linux 2.6.39.)

The read-only property follows the object: a directory whose (st_dev, st_ino) is a
mount's root belongs to that mount, however the walk reached it.
"""

import errno
import os
import posixpath
import stat

from . import linux as L
from .policy import GuestError, Mount, MountTable
from .synthetic import Synth, ino_of

MAX_LINKS = 40  # symlinks followed per lookup, as Linux
# Host directories one lookup may hold open: far deeper than real trees, and a bound
# on the fds 40 symlinks of 2048 components each could otherwise take.
MAX_STEPS = 1024
NAME_MAX = 255
_STEP = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class Host:
    """A host object reached by a walk: its mount, an O_PATH fd (or the guest's own
    fd for a directory handle), its guest path, and the directory it was found in."""

    __slots__ = ("mount", "fd", "gpath", "st", "parent", "name")

    def __init__(self, mount: Mount, fd: int, gpath: str, st: os.stat_result,
                 parent: "Host | None" = None, name: str | None = None):
        self.mount, self.fd, self.gpath, self.st = mount, fd, gpath, st
        self.parent, self.name = parent, name

    def __repr__(self) -> str:
        return f"Host({self.gpath} in {self.mount})"

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.st.st_mode)

    @property
    def readonly(self) -> bool:
        return self.mount.readonly

    def at(self) -> tuple[int, str]:
        """(directory fd, name) for an *at call on this very object: a directory is
        named "." in itself (pinned by its fd), anything else by name in its parent."""
        if self.is_dir or self.parent is None:
            return self.fd, "."
        return self.parent.fd, self.name


Node = Host | Synth


def gjoin(gpath: str, name: str) -> str:
    return gpath.rstrip("/") + "/" + name


def is_link(node: Node) -> bool:
    return node.is_link if isinstance(node, Host) else node.kind == "link"


def is_dir(node: Node) -> bool:
    return node.is_dir


def enoent(what: str) -> GuestError:
    return GuestError(errno.ENOENT, f"{what}: no such file or directory")


class Walk:
    """One lookup (or the two of a rename): the fds it opened, closed at its end, and
    the symlink budget."""

    def __init__(self, ns: MountTable):
        self.ns = ns
        self.fds: list[int] = []
        self.links = 0

    def __enter__(self) -> "Walk":
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    # -- single steps ----------------------------------------------------------------

    def overlay_node(self, o: Synth | Mount) -> Node:
        if isinstance(o, Mount):
            return Host(o, o.fd, o.guest, os.fstat(o.fd))
        return o

    def root(self) -> Node:
        return self.overlay_node(self.ns.overlay["/"])

    def step(self, d: Node, name: str) -> Node:
        """The object `name` in directory d, not followed if it is a symlink."""
        g = gjoin(d.gpath, name)
        o = self.ns.overlay.get(g)
        if o is not None:
            return self.overlay_node(o)
        if isinstance(d, Synth):
            # a directory stood in for a missing host one holds the rest of the way
            # down to the inner mount (/tmp/a/b/work in a private /tmp)
            if g in self.ns.fallback:
                return self.ns.fallback[g]
            raise enoent(g)
        if len(os.fsencode(name)) > NAME_MAX:
            raise GuestError(errno.ENAMETOOLONG, "name too long")
        if len(self.fds) >= MAX_STEPS:
            raise GuestError(errno.ENAMETOOLONG, "lookup too long")
        try:
            fd = os.open(name, _STEP, dir_fd=d.fd)
        except FileNotFoundError:
            if g in self.ns.fallback:
                return self.ns.fallback[g]
            raise
        self.fds.append(fd)
        st = os.fstat(fd)
        return Host(self.ns.mount_of_dir(st) or d.mount, fd, g, st, d, name)

    def readlink(self, node: Node) -> str:
        if isinstance(node, Synth):
            return os.fsdecode(node.data)
        return os.readlink(node.name, dir_fd=node.parent.fd)

    def count_link(self) -> None:
        self.links += 1
        if self.links > MAX_LINKS:
            raise GuestError(errno.ELOOP, "too many levels of symbolic links")

    # -- walks -------------------------------------------------------------------------

    def walk(self, stack: list[Node], comps: list[str], follow_last: bool) -> list[Node]:
        """The guest directories from the walk's start down to what comps name."""
        stack = list(stack)
        for i, name in enumerate(comps):
            if not is_dir(stack[-1]):
                raise GuestError(errno.ENOTDIR, "not a directory")
            if name == ".":
                continue
            if name == "..":
                stack = self.up(stack)
                continue
            node = self.step(stack[-1], name)
            if is_link(node) and (follow_last or i < len(comps) - 1):
                stack = self.follow(stack, node)
            else:
                stack.append(node)
        return stack

    def up(self, stack: list[Node]) -> list[Node]:
        if len(stack) > 1:
            return stack[:-1]
        g = stack[0].gpath
        if g == "/":
            return stack
        # The walk started below: find the guest parent afresh from the root.
        return self.walk([self.root()], split(posixpath.dirname(g)), True)

    def follow(self, stack: list[Node], link: Node) -> list[Node]:
        """The stack that the target of symlink `link` (found in stack[-1]) leads to."""
        self.count_link()
        target = self.readlink(link)
        if not target:
            raise enoent("empty symlink")
        base = [self.root()] if target.startswith("/") else stack
        res = self.walk(base, split(target), True)
        if target.endswith("/") and not is_dir(res[-1]):
            raise GuestError(errno.ENOTDIR, "not a directory")
        return res

    def start(self, start: Node | None, path: str) -> list[Node]:
        if not path:
            raise enoent("empty path")
        if path.startswith("/") or start is None:
            return [self.root()]
        return [start]

    def lookup(self, start: Node | None, path: str, follow: bool = True) -> Node:
        """What path names, from directory `start` (None: the root)."""
        trailing = path.endswith("/")
        node = self.walk(self.start(start, path), split(path), follow or trailing)[-1]
        if trailing and not is_dir(node):
            raise GuestError(errno.ENOTDIR, "not a directory")
        return node

    def parent(self, start: Node | None, path: str) -> tuple[list[Node], str]:
        """(stack down to the directory that holds the last component, that name).
        The name may be "." or ".."; for "/" it is "."."""
        comps = split(path)
        stack = self.start(start, path)
        if not comps:
            return stack, "."
        stack = self.walk(stack, comps[:-1], True)
        if not is_dir(stack[-1]):
            raise GuestError(errno.ENOTDIR, "not a directory")
        return stack, comps[-1]


def split(path: str) -> list[str]:
    if "\0" in path:
        raise GuestError(errno.EINVAL, "NUL in path")
    return [c for c in path.split("/") if c]


def stat_bytes(ns: MountTable, node: Node) -> bytes:
    if isinstance(node, Host):
        return L.pack_stat(node.st)
    if node.is_dir:
        subdirs = sum(1 for c in ns.children(node.gpath)
                      if isinstance(o := ns.overlay[gjoin(node.gpath, c)], Mount) or o.is_dir)
        return node.stat_bytes(nlink=2 + subdirs)
    return node.stat_bytes()


def synth_listing(ns: MountTable, node: Synth) -> list[bytes]:
    """getdents64 records of a synthetic directory: ".", "..", then its children."""
    parent = posixpath.dirname(node.gpath)
    entries = [(".", ino_of(node.gpath), stat.S_IFDIR), ("..", ino_of(parent), stat.S_IFDIR)]
    for name in ns.children(node.gpath):
        o = ns.overlay[gjoin(node.gpath, name)]
        if isinstance(o, Mount):
            entries.append((name, o.root_id[1], stat.S_IFDIR))
        else:
            entries.append((name, ino_of(o.gpath), o.mode))
    return [L.dirent(ino, i, mode, os.fsencode(name))
            for i, (name, ino, mode) in enumerate(entries, 1)]
