"""Shared fixtures: the installed SDK and the loaders every app test runs under.

`nox -s tests` builds and stage-installs hermit and points HERMIT_SDK at it.
Each app test runs under uhyve and QEMU+KVM when /dev/kvm is usable (skipped
with a reason otherwise) and always under QEMU without KVM (TCG).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hermit_build.config import kvm_problem  # noqa: E402

KVM_PROBLEM = kvm_problem()
KVM = KVM_PROBLEM is None
NO_KVM = f"KVM loader tests skipped: {KVM_PROBLEM} (the same apps run under QEMU/TCG)"

# loader id -> environment that selects it
LOADERS = {
    "uhyve": {"HERMIT_ISLE": "uhyve"},
    "qemu-kvm": {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "1"},
    "qemu-tcg": {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0"},
}


@pytest.fixture(scope="session")
def sdk() -> Path:
    path = os.environ.get("HERMIT_SDK")
    if not path:
        pytest.fail("HERMIT_SDK is not set: run the tests with `nox -s tests`")
    return Path(path)


@pytest.fixture(params=list(LOADERS))
def loader(request) -> dict[str, str]:
    if request.param != "qemu-tcg" and not KVM:
        pytest.skip(NO_KVM)
    return LOADERS[request.param]


@pytest.fixture
def pipe():
    """A host pipe (read end, write end), both closed after the test if still open."""
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def kvm_loader(request) -> None:
    if not KVM:
        pytest.skip(NO_KVM)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERMIT_")}
    env.update(extra)
    return env


def run(sdk: Path, app: str, *args: str, env: dict[str, str] | None = None,
        timeout: float = 120, stdin: str | None = None, cwd: Path | None = None,
        prog: str = "bin/proxy") -> subprocess.CompletedProcess:
    """Run `bin/proxy app args...` from the SDK; `app` is relative to the SDK or absolute."""
    return subprocess.run(
        [str(sdk / prog), str(sdk / app) if not os.path.isabs(app) else app, *args],
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        cwd=cwd,
    )


def disassemble(image: Path, symbol: str) -> str:
    """objdump's disassembly of one function of an image (empty if it has no such symbol)."""
    return subprocess.run(["objdump", "-d", f"--disassemble={symbol}", str(image)],
                          capture_output=True, text=True, check=True).stdout


def children(pid: int) -> list[int]:
    """The pids whose parent is pid (QEMU under a runner, a runner under the test)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found
