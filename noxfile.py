"""Developer tasks.

`nox -s qemu` builds everything and boots the demo; `nox -s tests` runs every test.
"""

import os
from pathlib import Path

import nox

nox.options.sessions = ["qemu", "tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
BUILD = ROOT / "build"
STAGE = BUILD / "stage"  # meson install --destdir target
PREFIX = "/opt/hermit"
DEPS = ["meson>=1.4", "ninja", "jinja2", "pyelftools"]


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
    session.install("pytest")
    session.run("pytest", "-ra", *session.posargs, env={"HERMIT_SDK": str(sdk),
                                                      "HERMIT_BUILD": str(BUILD)})


@nox.session
def bench(session: nox.Session) -> None:
    """Boot-time benchmark: uhyve against QEMU, same image, same run; prints a table."""
    sdk = build(session)
    session.run("python", str(ROOT / "usr/benchmarks/boot.py"), "--sdk", str(sdk),
                *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the Python code."""
    session.install("ruff")
    session.run("ruff", "check", "hermit_build", "tests", "noxfile.py", "usr/benchmarks")


@nox.session(python=False)
def clean(session: nox.Session) -> None:
    """Remove the build tree."""
    if BUILD.exists():
        session.run("rm", "-rf", str(BUILD), external=True)
    os.makedirs(BUILD, exist_ok=True)
