"""Developer tasks.

`nox -s qemu` builds everything and boots the demo; `nox -s tests` runs every test.
"""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["qemu", "tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
BUILD = ROOT / "build"
STAGE = BUILD / "stage"  # meson install --destdir target
PREFIX = "/opt/hermit"
DIST = ROOT / "dist"  # the .deb packages
# The build tools, and the project's own dependencies as pyproject.toml lists them.
DEPS = ["meson>=1.4", "ninja",
        *tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]


def build(session: nox.Session) -> Path:
    """Configure, build and stage-install hermit; return the installed prefix."""
    session.install(*DEPS)
    if not (BUILD / "build.ninja").exists():
        session.run("meson", "setup", str(BUILD), "--cross-file", str(ROOT / "hermit.ini"))
    session.run("ninja", "-C", str(BUILD))
    session.run("meson", "install", "-C", str(BUILD), "--destdir", str(STAGE), "--quiet")
    return STAGE / PREFIX.lstrip("/")


def boot(session: nox.Session, isle: str) -> None:
    sdk = build(session)
    session.chdir(str(sdk))
    args = session.posargs or ["extra/tests/hello"]
    session.run(str(sdk / "bin/proxy"), *args, env={"HERMIT_ISLE": isle}, external=True)


@nox.session
def qemu(session: nox.Session) -> None:
    """Build everything and boot `hello` under QEMU (KVM when usable)."""
    boot(session, "qemu")


@nox.session
def uhyve(session: nox.Session) -> None:
    """Build everything and boot `hello` under uhyve (needs /dev/kvm)."""
    boot(session, "uhyve")


@nox.session
def tests(session: nox.Session) -> None:
    """Every test: unit tests of hermit_build and the apps under uhyve, QEMU+KVM and QEMU/TCG."""
    sdk = build(session)
    session.install("pytest", "hypothesis")
    session.run("pytest", "-ra", *session.posargs, env={"HERMIT_SDK": str(sdk),
                                                      "HERMIT_BUILD": str(BUILD)})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: boot time (uhyve against QEMU) and host file I/O throughput (against
    Linux), every loader in the same run; prints tables."""
    sdk = build(session)
    session.run("python", str(ROOT / "usr/benchmarks/boot.py"), "--sdk", str(sdk),
                *session.posargs)
    session.run("python", str(ROOT / "usr/benchmarks/fileio.py"), "--sdk", str(sdk))
    # many cores (issues 3, 10): basic, stream, hg, thread_create, preempt against Linux
    session.run("python", str(ROOT / "usr/benchmarks/threads.py"), "--sdk", str(sdk))
    # OpenMP (issue 13): STREAM triad and parallel-region/barrier overheads against Linux
    session.run("python", str(ROOT / "usr/benchmarks/openmp.py"), "--sdk", str(sdk))
    # the profiler (issue 14): jacobi with and without HERMIT_PROFILE
    session.run("python", str(ROOT / "usr/benchmarks/profile.py"), "--sdk", str(sdk))
    # the network stack (issue 12): tcp_loopback and netio over 127.0.0.1 against Linux
    session.run("python", str(ROOT / "usr/benchmarks/network.py"), "--sdk", str(sdk))
    # issue 12's targets: the servers reached from the host through the NIC, against the
    # same native servers on loopback and behind slirp4netns (wrk, netio, latency)
    out = BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    session.run("python", str(ROOT / "usr/benchmarks/network_targets.py"), "--sdk", str(sdk),
                "--json", str(out / "network_targets.json"),
                "--svg", str(out / "network_targets.svg"))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the Python code."""
    session.install("ruff")
    session.run("ruff", "check", "hermit_build", "tests", "noxfile.py", "usr/benchmarks")


def make_debs(session: nox.Session, *args: str) -> list[str]:
    """Build the .deb packages into dist/ from a fresh install of the build tree."""
    build(session)
    session.run("python", str(ROOT / "tools/hermit"), "deb", "--build", str(BUILD),
                "-o", str(DIST), *args)
    return sorted(str(p) for p in DIST.glob("*.deb"))


@nox.session
def deb(session: nox.Session) -> None:
    """Debian packages into dist/, checked with lintian when it is installed."""
    make_debs(session, *(["--lintian"] if shutil.which("lintian") else []), *session.posargs)


def _binfmt_unmount_if_idle(was_mounted: bool) -> None:
    """Leave binfmt_misc as we found it: unmount it if the packages mounted it."""
    d = Path("/proc/sys/fs/binfmt_misc")
    if not was_mounted and os.path.ismount(d):
        if {p.name for p in d.iterdir()} <= {"register", "status"}:
            subprocess.run(["umount", str(d)], check=False)


@nox.session(name="deb-system")
def deb_system(session: nox.Session) -> None:
    """Install the packages on THIS machine, build apps out of tree against /opt/hermit,
    then remove them and check nothing is left. Runs only as root with CI=true, or with
    `nox -s deb-system -- --yes`."""
    if os.geteuid() != 0 or not (os.environ.get("CI") == "true" or "--yes" in session.posargs):
        session.error("deb-system installs and removes packages on this machine: run it as "
                      "root with CI=true, or as root with `nox -s deb-system -- --yes`")
    owned = subprocess.run(["dpkg-query", "-S", PREFIX], capture_output=True).returncode == 0
    if os.path.lexists(PREFIX) and not owned:
        session.error(f"{PREFIX} exists and belongs to no package; move it away first")
    debs = make_debs(session)
    session.install("pytest")
    names = [subprocess.run(["dpkg-deb", "-f", d, "Package"], capture_output=True, text=True,
                            check=True).stdout.strip() for d in debs]
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    pytest = ["pytest", "-ra", "-p", "no:cacheprovider"]
    binfmt_mounted = os.path.ismount("/proc/sys/fs/binfmt_misc")
    try:
        session.run("apt-get", "install", "-y", "-q", *debs, env=apt_env, external=True)
        session.run(*pytest, str(ROOT / "tests/test_deb_system.py"),
                    env={"HERMIT_SDK": PREFIX, "HERMIT_DEB_SYSTEM": "installed"})
    finally:
        # `remove`, not `purge`: removing alone must leave nothing behind.
        if present := _known_packages(names):
            session.run("apt-get", "remove", "-y", "-q", *present, env=apt_env, external=True)
        _binfmt_unmount_if_idle(binfmt_mounted)
    try:
        session.run(*pytest, str(ROOT / "tests/test_deb_removed.py"),
                    env={"HERMIT_SDK": PREFIX, "HERMIT_DEB_SYSTEM": "removed"})
    finally:
        if present := _known_packages(names):  # only after a failure: clean up for good
            session.run("dpkg", "--purge", *present, external=True)


def _known_packages(names: list[str]) -> list[str]:
    """Those of `names` that dpkg still has installed or half-removed."""
    def status(name: str) -> str:
        return subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name],
                              capture_output=True, text=True).stdout.strip()

    return [n for n in names if status(n) not in ("", "un", "pn")]


@nox.session(python=False)
def clean(session: nox.Session) -> None:
    """Remove the build tree."""
    if BUILD.exists():
        session.run("rm", "-rf", str(BUILD), external=True)
    os.makedirs(BUILD, exist_ok=True)
