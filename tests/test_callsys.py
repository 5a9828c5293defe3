"""System calls as calls (issue 10).  The SDK's libc.a (tools/build-musl) makes each
system call through HERMIT_SYSCALL_SLOT; where the kernel runs natively on kvm_pvm
the application then runs at the kernel's privilege and a call is a call.  Every
shape of call works in every mode, the kernel says which mode it chose, and an
application linked with Debian's musl still runs, from ring 3."""

import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, run

from hermit_build.config import kvm_is_pvm

APP = ROOT / "usr/tests/callsys.c"
MUSL_DEV_LIBCS = [Path("/usr/lib/x86_64-linux-musl/libc.a"), Path("/usr/lib/musl/lib/libc.a")]
CALLS = "hermit: system calls: calls, the application at the kernel's privilege"
SLOT_TRAP = "hermit: system calls: syscall from ring 3 (through the slot)"
OLD_TRAP = "hermit: system calls: syscall from ring 3 (the application's libc is not the SDK's)"


def sdk_libc(sdk: Path) -> Path:
    libc = sdk / "x86_64-hermit/lib/libc.a"
    if not libc.is_file():
        pytest.skip("this SDK was configured with -Dsdk_libc=disabled: musl-dev's libc.a")
    return libc


def native(loader: dict[str, str]) -> bool:
    """Does the kernel run natively on kvm_pvm under this loader?"""
    return loader.get("HERMIT_KVM") != "0" and kvm_is_pvm()


def check_run(sdk: Path, image: Path, loader: dict[str, str], mode: str) -> None:
    r = run(sdk, str(image), env=dict(loader, HERMIT_VERBOSE="1", HERMIT_TIMEOUT="60"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.endswith("callsys ok\n") and "FAILED" not in r.stdout, r.stdout
    assert r.stdout.count("\nok ") == 8, r.stdout
    assert mode in r.stderr, r.stderr


def test_the_sdks_libc_calls_the_kernel(sdk, loader):
    sdk_libc(sdk)
    check_run(sdk, sdk / "extra/tests/callsys", loader, CALLS if native(loader) else SLOT_TRAP)


def test_its_images_make_no_syscall_instruction(sdk):
    """Only the app's own inline `syscall` remains: musl's all go through the slot."""
    libc = sdk_libc(sdk)
    dis = subprocess.run(["objdump", "-d", str(libc)], capture_output=True, text=True,
                         check=True).stdout
    assert "\tsyscall" not in dis and "call   *0x6ff8" in dis


@pytest.fixture(scope="module")
def old_image(sdk, tmp_path_factory) -> Path:
    """callsys linked as before the SDK had its own libc: with musl-dev's."""
    libc = next((p for p in MUSL_DEV_LIBCS if p.is_file()), None)
    if libc is None:
        pytest.skip("musl-dev's libc.a not found")
    out = tmp_path_factory.mktemp("old") / "callsys"
    r = subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-O2", str(APP), "-o", str(out),
                        str(libc)], env=clean_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


def test_apps_linked_with_debians_musl_still_run(sdk, loader, old_image):
    check_run(sdk, old_image, loader, OLD_TRAP)
