"""Property tests of the resolver (Hypothesis, derandomized for CI): random trees of
directories, files and symlinks (absolute, relative, into other mounts, out of every
mount, dangling, loops) and random guest calls on random paths.  The rule: whatever
a call reaches on the host lies inside a mount, whatever it writes inside a writable
one, and nothing outside the writable mounts ever changes."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from fakeguest import O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, Guest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermit_build.hostfs.fdtable import OpenFile
from hermit_build.hostfs.resolve import Host

# "@" stands for the host directory that holds the whole tree (a host path the guest
# must never reach), "@w" for the working directory's host path (a guest path too).
# Mostly names that exist, so that most calls reach something.
COMPONENTS = ["a"] * 3 + ["b", "f", "f", "l0", "l1", "l2", "..", "..", "nest", "new"] + [
    ".", "ro", "m", "rw", "outside", "canary", "etc", "hostname", "dev", "null", "work", "x"]
PREFIXES = [""] * 6 + ["/m/rw/"] * 2 + ["/ro/"] * 2 + ["/", "@/", "@w/", "@w/nest/", "/etc/",
                                                        "/dev/", "../", "a/../../"]
SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=250,
                    suppress_health_check=list(HealthCheck))

paths = st.one_of(
    st.builds(lambda pre, comps, slash: pre + "/".join(comps) + slash,
              st.sampled_from(PREFIXES), st.lists(st.sampled_from(COMPONENTS), max_size=4),
              st.sampled_from([""] * 5 + ["/"])),
    st.builds(lambda d, name: d + name,
              st.sampled_from(["", "a/", "a/b/", "/m/rw/", "/m/rw/a/", "nest/", "/ro/", "l0/",
                               "l1/", "a/l2/", "/m/rw/l0/"]),
              st.sampled_from(["f", "new", "l0", "l1", "l2", "a"])))
# where a symlink goes: work, work/nest (read-only), ro, rw2; and in which directory
MOUNT_DIRS = ["work", "work/a", "work/a/b", "work/nest", "work/nest/a", "ro", "ro/a", "ro/a/b",
              "rw2", "rw2/a"]
links = st.lists(st.tuples(st.sampled_from(MOUNT_DIRS), st.sampled_from(["l0", "l1", "l2"]),
                           paths.filter(bool)), max_size=8)
OPS = ["open_r", "open_w", "creat", "creat_excl", "trunc_open", "opendir_at", "mkdir",
       "rmdir", "unlink", "rename", "link", "symlink", "chmod", "truncate", "utimens",
       "chdir", "stat", "readlink"]
ops = st.lists(st.tuples(st.sampled_from(OPS), paths, paths), min_size=1, max_size=12)


def build(top: Path, links) -> None:
    for d in ("outside/dir", "work/a/b", "work/nest/a", "ro/a/b", "rw2/a"):
        (top / d).mkdir(parents=True)
    for f in ("outside/canary", "work/f", "work/nest/f", "ro/f", "ro/a/b/f", "rw2/f"):
        (top / f).write_text(f"{f}\n")
    for where, name, target in links:
        target = target.replace("@w", str(top / "work")).replace("@", str(top))
        if not (top / where / name).is_symlink():
            os.symlink(target, top / where / name)


def inodes(root: Path, skip: Path | None = None) -> set[tuple[int, int]]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip:
            dirnames.clear()
            continue
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st_ = os.lstat(name)
            found.add((st_.st_dev, st_.st_ino))
    return found


def digest(root: Path) -> dict[str, tuple]:
    """Everything that must never change under root: names, types, modes, contents,
    link targets (and the root itself)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st_ = os.lstat(name)
            extra = (os.readlink(name) if stat.S_ISLNK(st_.st_mode) else
                     Path(name).read_bytes() if stat.S_ISREG(st_.st_mode) else None)
            out[name] = (st_.st_mode, st_.st_ino, st_.st_size, st_.st_mtime_ns, extra)
    return out


class World:
    """The tree, the guest, and the invariants checked after every call."""

    def __init__(self, top: Path, links):
        build(top, links)
        self.top = top
        self.frozen = {r: digest(top / r) for r in ("outside", "work/nest", "ro")}
        self.roots = {r: os.stat(top / r).st_ino for r in ("work", "work/nest", "ro", "rw2")}
        self.g = Guest(str(top / "work"), ["nest:ro", f"{top / 'ro'}:/ro:ro",
                                           f"{top / 'rw2'}:/m/rw"])

    def expand(self, path: str) -> str:
        return path.replace("@w", str(self.top / "work")).replace("@", str(self.top))

    def sets(self):
        t = self.top
        ro = inodes(t / "work/nest") | inodes(t / "ro")
        rw = inodes(t / "work", skip=t / "work/nest") | inodes(t / "rw2")
        return ro, rw

    def check_reached(self, handle: int, write: bool) -> None:
        if handle < 0:
            return
        f = self.g.fs.fds.get(handle)
        if f.fd < 0:  # synthetic: served from the loader's memory
            assert not write
            return
        st_ = os.fstat(f.fd)
        ro, rw = self.sets()
        where = (st_.st_dev, st_.st_ino)
        assert where in (rw if write else ro | rw), f"reached {where} outside the mounts"
        if write:
            assert where not in ro

    def check_unchanged(self) -> None:
        for r, before in self.frozen.items():
            assert digest(self.top / r) == before, f"{r} changed"
        for r, ino in self.roots.items():
            assert os.stat(self.top / r).st_ino == ino, f"mount root {r} replaced"
        assert sorted(p.name for p in self.top.iterdir()) == ["outside", "ro", "rw2", "work"]
        cwd = self.g.fs.cwd
        if isinstance(cwd, Host):
            st_ = os.fstat(cwd.fd)
            ro, rw = self.sets()
            assert (st_.st_dev, st_.st_ino) in ro | rw

    def run(self, op: str, p: str, q: str) -> None:
        g, p, q = self.g, self.expand(p), self.expand(q)
        if op in ("open_r", "open_w", "creat", "creat_excl", "trunc_open"):
            flags = {"open_r": O_RDONLY, "open_w": O_WRONLY, "creat": O_CREAT | O_RDWR,
                     "creat_excl": O_CREAT | O_EXCL | O_WRONLY,
                     "trunc_open": O_TRUNC | O_RDONLY}[op]
            ret = g.open(p, flags, 0o6777)
            if isinstance(ret, int):
                self.check_reached(ret, write=op != "open_r")
                if ret >= 0:
                    g.close_fd(ret)
        elif op == "opendir_at":
            d = g.open(p, O_RDONLY | O_DIRECTORY)
            if isinstance(d, int) and d >= 0:
                self.check_reached(d, write=False)
                for flags in (O_RDONLY, O_CREAT | O_WRONLY):
                    ret = g.openat(d, q, flags, 0o644)
                    if isinstance(ret, int):
                        self.check_reached(ret, write=flags != O_RDONLY)
                        if ret >= 0:
                            g.close_fd(ret)
                g.close_fd(d)
        elif op in ("mkdir", "chmod"):
            getattr(g, op)(p, 0o7777)
        elif op in ("rmdir", "unlink", "chdir", "readlink"):
            getattr(g, op)(p)
        elif op in ("rename", "link"):
            getattr(g, op)(p, q)
        elif op == "symlink":
            g.symlink(q or "x", p)
        elif op == "truncate":
            g.truncate(p, 0)
        elif op == "utimens":
            g.utimensat(-100, p, 0, 0)
        elif op == "stat":
            g.stat(p)
        self.check_unchanged()
        for dirpath, dirnames, filenames in os.walk(self.top):
            for name in dirnames + filenames:
                mode = os.lstat(os.path.join(dirpath, name)).st_mode
                assert stat.S_ISLNK(mode) or mode & 0o6000 == 0, name


@SETTINGS
@given(links=links, ops=ops)
def test_calls_stay_inside_the_mounts(links, ops):
    top = Path(tempfile.mkdtemp(prefix="hermit-resolver-"))
    try:
        w = World(top, links)
        try:
            for op, p, q in ops:
                w.run(op, p, q)
        finally:
            w.g.close()
    finally:
        shutil.rmtree(top)


def test_the_checks_can_fail(tmp_path):
    """The invariants above notice a write outside and a host object outside."""
    w = World(tmp_path, [])
    try:
        (tmp_path / "outside/canary").write_text("changed\n")
        with pytest.raises(AssertionError, match="outside changed"):
            w.check_unchanged()
        fd = os.open(tmp_path / "outside/canary", os.O_RDONLY)
        handle = w.g.fs.fds.install(OpenFile(fd, "/x"))
        with pytest.raises(AssertionError, match="outside the mounts"):
            w.check_reached(handle, write=False)
    finally:
        w.g.close()
