"""HERMIT_DEBUG=1 under QEMU: a batch-mode GDB session on a program built with -g
breaks at a function, continues, prints a backtrace and variables, steps and
detaches, and the guest then runs to its normal end.  On kvm_pvm hosts, whose KVM
turns a breakpoint into a guest exception, QEMU falls back to TCG with a notice."""

import re
import shutil
import socket
import subprocess

import pytest
from conftest import KVM, ROOT, clean_env

from hermit_build.config import RunConfig, kvm_is_pvm
from hermit_build.qemu import runner

APP = ROOT / "usr/tests/syscalls.c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def debug_image(sdk, tmp_path):
    image = tmp_path / "syscalls"
    subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-g", "-O0", str(APP), "-o", str(image)],
                   check=True, capture_output=True, timeout=120)
    return image


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed (tools/install-deps)")
def test_gdb_session_under_qemu(sdk, debug_image, tmp_path):
    port = free_port()
    env = {"HERMIT_ISLE": "qemu", "HERMIT_DEBUG": "1", "HERMIT_GDB_PORT": str(port),
           "HERMIT_TIMEOUT": "120"}
    pvm = KVM and kvm_is_pvm()
    if not pvm:
        env["HERMIT_KVM"] = "0"  # elsewhere the default accelerator is not this test's subject
    guest = subprocess.Popen([str(sdk / "bin/proxy"), str(debug_image)], env=clean_env(**env),
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        gdb = subprocess.run(
            ["gdb", "-batch", "-nx", "-ex", "set tcp connect-timeout 60",
             "-ex", f"target remote 127.0.0.1:{port}", "-ex", "break hot_function",
             "-ex", "continue", "-ex", "backtrace", "-ex", "print n", "-ex", "step",
             "-ex", "next", "-ex", "info locals", "-ex", "print hot_counter", "-ex", "detach",
             str(debug_image)],
            capture_output=True, text=True, timeout=180)
        out, err = guest.communicate(timeout=120)
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    log = gdb.stdout + gdb.stderr
    assert gdb.returncode == 0, log
    assert "Breakpoint 1 at" in log
    assert "Breakpoint 1, hot_function (n=10)" in log, log
    assert "#0  hot_function (n=10)" in log and "in main (" in log, log
    assert "$1 = 10" in log, log
    assert re.search(r"\n\d+\t\t\thot_counter \+= i;\n", log), log  # into the loop's body
    assert "i = 0" in log, log
    assert "$2 = 0" in log, log
    assert "[Inferior 1 (process 1) detached]" in log, log
    assert guest.returncode == 0, err
    assert out == "read 13 bytes, counter 45\n"
    assert "guest crashed" not in err
    assert (runner.DEBUG_FALLBACK in err) == pvm, err


def test_fallback_only_on_kvm_pvm(capsys):
    cfg = RunConfig("x", ["x"], debug=True)
    assert runner.debug_kvm(cfg, True, pvm=True) is False
    assert runner.DEBUG_FALLBACK in capsys.readouterr().err
    assert runner.debug_kvm(cfg, True, pvm=False) is True
    assert runner.debug_kvm(RunConfig("x", ["x"]), True, pvm=True) is True
    assert runner.debug_kvm(cfg, False, pvm=True) is False
    assert capsys.readouterr().err == ""
