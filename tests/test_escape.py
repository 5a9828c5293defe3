"""The escape suite (usr/tests/escape*.c) under uhyve, QEMU+KVM and QEMU/TCG.

Each loader runs the suite (HERMIT_CPUS=2 for the symlink-swap races, under
HERMIT_TIMEOUT) in a host tree of its own:

    outside/<attack>/canary     outside every mount, unique random contents
    work/                       the working directory, writable
    work/data/<attack>/canary   in the read-only mount (HERMIT_MOUNT=data:ro)
    work/data/<attack>/empty/
    work/root-<attack>/         an empty mount of its own, for attacks on mount roots

and once more, without the races, with the read-only mount apart: ro/ instead of
work/data/, seen by the guest at /data (HERMIT_MOUNT=<tmp>/ro:/data:ro).

An attack is refused when the guest's line says so and the host agrees: nothing
the attack owns outside the writable directory changed (contents, modes, owners,
mtime and ctime, inode numbers and link counts; not atime, which reads move), its
outside canary appears nowhere in the output, its scratch directory holds no set-id
file and its mount root is still the directory it was.  The proxy's stdin is a pipe
whose read end the test keeps: the guest's O_NONBLOCK on fd 0 must not reach it.
Anything else that changed outside the writable directory fails the run.
"""

import os
import re
import secrets
import stat
import subprocess
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import pytest
from conftest import KVM, LOADERS, NO_KVM, clean_env

ALL_LOADERS = tuple(LOADERS)
# Each loader runs the suite twice: with the read-only mount nested in the working
# directory (work/data, at the same path in the guest) and apart from it (ro/, seen
# by the guest at APART_RO), which tests the mapping of guest paths to host paths.
APART = tuple(f"{loader}-apart" for loader in ALL_LOADERS)
RUNS = (*ALL_LOADERS, *APART)
APART_RO = "/data"  # the races run in the nested layout only
GUEST_TIMEOUT = "60"  # HERMIT_TIMEOUT: a hang ends as status 124, not a hung test
# Attempts per race attack, within the time the file may take (about a minute for all
# three loaders on a busy machine, once no race stops at its first escape); a deeper
# run: ESCAPE_RACE_ITERATIONS=5000.
ITERATIONS = {"uhyve": 1000, "qemu-kvm": 400, "qemu-tcg": 150}

# Errnos that do not depend on how the sandbox refuses: Linux's own answer.
ERRNO = {"wild-write-buf": "EFAULT", "wild-read-range": "EFAULT", "wild-path": "EFAULT",
         "wild-stat-buf": "EFAULT", "creat-excl-symlink": "EEXIST"}

LINE = re.compile(r"ATTACK (\S+): (refused|ESCAPED|host-check|BROKEN) \((.*)\)$")
RACE = re.compile(r"(\d+) attempts: (\d+) harmless, (\d+) refused, (\d+) flips")


def digest(top: Path, mounts: list[str], rw_roots: set[str]) -> dict[str, tuple]:
    """rel path -> what must not change, for the tree outside the writable directory."""
    out: dict[str, tuple] = {}

    def visit(rel: str) -> None:
        path = top / rel
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if rel in rw_roots:  # writable inside: only that it is still the same directory
            out[rel] = (stat.S_IFMT(st.st_mode), st.st_ino)
            return
        content: object = None
        if stat.S_ISREG(st.st_mode):
            content = sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                    st.st_ctime_ns, st.st_ino, st.st_nlink, content)
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                visit(f"{rel}/{name}")

    out["."] = (os.lstat(top).st_mode, os.lstat(top).st_mtime_ns)
    for name in sorted(os.listdir(top)):
        if name != "work":
            visit(name)
    for m in mounts:
        visit(f"work/{m}")
    return out


def owner(rel: str, ro: str) -> str:
    """The attack a host path belongs to ('' for none); ro: where the ro mount is."""
    for base in ("outside/", f"{ro}/", "work/root-", "work/"):
        if rel.startswith(base):
            return rel[len(base):].split("/")[0]
    return ""


@dataclass
class Run:
    attacks: dict[str, str]  # name -> "rw"/"ro" (an own mount) or ""
    status: int
    stdout: str
    stderr: str
    stdin_nonblocking: bool
    lines: dict[str, tuple[str, str]] = field(default_factory=dict)
    host: dict[str, list[str]] = field(default_factory=dict)  # attack -> what the host saw

    def problems(self, name: str) -> list[str]:
        """Why attack `name` is not refused (empty: refused)."""
        if name not in self.lines:
            return ["no line for it: the suite stopped before it"]
        word, detail = self.lines[name]
        found = list(self.host.get(name, []))
        if word == "host-check" and name == "stdin-nonblock":
            if self.stdin_nonblocking:
                found.append("the proxy's stdin (the test's pipe) became O_NONBLOCK")
        elif word != "refused":
            found.append(f"guest: {word} ({detail})")
        elif name in ERRNO and not detail.startswith(ERRNO[name]):
            found.append(f"refused with {detail}, Linux says {ERRNO[name]}")
        elif name.startswith("race-"):
            m = RACE.search(detail)
            if not m or int(m[2]) == 0 or int(m[3]) == 0:
                found.append(f"the race did not alternate what it met: {detail}")
        return found


def attack_list(sdk: Path, env: dict[str, str], cwd: Path, races: bool) -> dict[str, str]:
    r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/escape"), "--list"],
                       env=clean_env(**env), cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return {parts[0]: (parts[1:] or [""])[0] for parts in map(str.split, r.stdout.splitlines())
            if races or not parts[0].startswith("race-")}


@dataclass
class Tree:
    """The host side of one run, and its state before the run."""
    top: Path
    attacks: dict[str, str]
    ro: str  # where the read-only mount is, relative to top
    canaries: dict[str, str] = field(default_factory=dict)  # attack -> its outside canary
    roots: dict[str, str] = field(default_factory=dict)  # root-<attack> -> rw/ro
    inodes: dict[str, int] = field(default_factory=dict)  # root-<attack> -> its inode
    before: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        work, data = self.top / "work", self.top / self.ro
        for name, mode in self.attacks.items():
            (self.top / "outside" / name).mkdir(parents=True)
            self.canaries[name] = secrets.token_hex(16)
            (self.top / "outside" / name / "canary").write_text(self.canaries[name] + "\n")
            (data / name / "empty").mkdir(parents=True)
            (data / name / "canary").write_text(secrets.token_hex(16) + "\n")
            if mode:
                self.roots[f"root-{name}"] = mode
                (work / f"root-{name}").mkdir()
                self.inodes[f"root-{name}"] = os.lstat(work / f"root-{name}").st_ino
        self.before = self.digest()

    def mount_spec(self) -> str:
        ro = "data:ro" if self.ro == "work/data" else f"{self.top / self.ro}:{APART_RO}:ro"
        return ",".join([ro, *(f"{r}:{mode}" for r, mode in self.roots.items())])

    def digest(self) -> dict[str, tuple]:
        rw = {f"work/{r}" for r, mode in self.roots.items() if mode == "rw"}
        nested = [self.ro.removeprefix("work/")] if self.ro.startswith("work/") else []
        return digest(self.top, [*nested, *self.roots], rw)

    def findings(self, output: str) -> dict[str, list[str]]:
        """attack ('' for none) -> what changed on the host since __post_init__."""
        found: dict[str, list[str]] = {}
        after, work = self.digest(), self.top / "work"
        for rel in sorted(self.before.keys() | after.keys()):
            if self.before.get(rel) != after.get(rel):
                what = ("appeared" if rel not in self.before else
                        "vanished" if rel not in after else "changed")
                found.setdefault(owner(rel, self.ro), []).append(f"host: {rel} {what}")
        for root in self.roots:
            st = os.lstat(work / root) if os.path.lexists(work / root) else None
            if not st or not stat.S_ISDIR(st.st_mode) or st.st_ino != self.inodes[root]:
                found.setdefault(owner(f"work/{root}", self.ro), []).append(
                    f"host: mount root {root} is no longer the directory it was")
        for dirpath, dirnames, filenames in os.walk(work):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                if os.lstat(path).st_mode & (stat.S_ISUID | stat.S_ISGID):
                    rel = str(path.relative_to(self.top))
                    found.setdefault(owner(rel, self.ro), []).append(f"host: set-id bit on {rel}")
        for name, token in self.canaries.items():
            if token in output:
                found.setdefault(name, []).append("its outside canary is in the output")
        return found


def run_suite(sdk: Path, run_id: str, top: Path) -> Run:
    loader_id, apart = run_id.removesuffix("-apart"), run_id.endswith("-apart")
    top = top.resolve()
    work = top / "work"
    work.mkdir()
    attacks = attack_list(sdk, LOADERS[loader_id], top, races=not apart)
    tree = Tree(top, attacks, "ro" if apart else "work/data")
    env = dict(LOADERS[loader_id], HERMIT_CPUS="2", HERMIT_TIMEOUT=GUEST_TIMEOUT,
               HERMIT_MOUNT=tree.mount_spec())
    iterations = os.environ.get("ESCAPE_RACE_ITERATIONS", str(ITERATIONS[loader_id]))
    stdin_r, stdin_w = os.pipe()  # ours stays open: we see what the guest does to its flags
    try:
        r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/escape"),
                            "-n", iterations, str(top / "outside"), str(work),
                            APART_RO if apart else str(work / "data"), *attacks],
                           env=clean_env(**env), cwd=work, stdin=stdin_r, capture_output=True,
                           text=True, timeout=2 * int(GUEST_TIMEOUT))
        nonblocking = not os.get_blocking(stdin_r)
    finally:
        os.close(stdin_r)
        os.close(stdin_w)
    run = Run(tree.attacks, r.returncode, r.stdout, r.stderr, nonblocking)
    run.lines = {m[1]: (m[2], m[3]) for m in map(LINE.match, r.stdout.splitlines()) if m}
    run.host = tree.findings(r.stdout + r.stderr)
    return run


@pytest.fixture
def suite(request, sdk, tmp_path_factory) -> Run:
    run_id = request.param
    if not run_id.startswith("qemu-tcg") and not KVM:
        pytest.skip(NO_KVM)
    return run_suite(sdk, run_id, tmp_path_factory.mktemp(f"escape-{run_id}"))


@pytest.mark.parametrize("suite", RUNS, indirect=True)
def test_escape_suite(suite):
    """Every attack is refused, and nothing else on the host changed."""
    assert "Traceback" not in suite.stderr, suite.stderr
    last = suite.stdout.splitlines()[-1] if suite.stdout else ""
    assert last.startswith(f"SUITE {len(suite.attacks)} attacks,"), (suite.status, suite.stderr)
    assert suite.status == (0 if last.endswith(" 0 escaped") else 1), suite.stderr
    assert suite.lines.keys() == suite.attacks.keys()
    assert suite.host.get("", []) == [], "changed outside every attack's own objects"
    failed = {n: suite.problems(n) for n in suite.attacks}
    assert {n: p for n, p in failed.items() if p} == {}
