"""poll, select and epoll on stdin wait for the host (issue 12, item 3): the test
feeds stdin one byte 2 s after the start and keeps it open; the guest checks its
timeouts, that another thread's system calls go on meanwhile (no lock held), and
that a pipe ends a wait on stdin and a pipe together.  Under every loader and
natively (the same expectations hold on Linux)."""

import os
import subprocess
import time

import pytest
from conftest import ROOT, clean_env

MODES = ["poll", "select", "epoll", "mixed"]


def fed_late(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    assert p.poll() is None, p.communicate()  # it waits for stdin
    p.stdin.write("x")
    p.stdin.flush()
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"stdin's byte did not end the wait: {out!r} {err!r}") from None
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def expected(mode: str) -> str:
    how = "poll" if mode == "mixed" else mode
    return (("mixed: pipe first, " if mode == "mixed" else "") +
            f"{how}: 0 at first, 300 ms timeout kept, ready once fed, others ran, read x, "
            "stdout writable, 0 failed\n")


@pytest.mark.parametrize("mode", MODES)
def test_on_hermit(sdk, loader, mode):
    env = clean_env(**loader, HERMIT_CPUS="2", HERMIT_TIMEOUT="60")
    r = fed_late([str(sdk / "bin/proxy"), str(sdk / "extra/tests/poll_stdin"), mode], env)
    assert (r.returncode, r.stdout) == (0, expected(mode)), r.stdout + r.stderr


def test_one_cpu_shared_with_a_busy_thread(sdk, loader):
    """With one cpu, the thread polling stdin gives it up to the busy one between
    looks at the host (it would keep it for its whole wait in the host)."""
    from hermit_build.config import kvm_is_pvm

    if loader.get("HERMIT_ISLE") == "qemu" and loader.get("HERMIT_KVM") != "0" and kvm_is_pvm():
        pytest.skip("QEMU on kvm_pvm: nothing preempts the busy thread (README)")
    env = clean_env(**loader, HERMIT_CPUS="1", HERMIT_TIMEOUT="60")
    r = fed_late([str(sdk / "bin/proxy"), str(sdk / "extra/tests/poll_stdin"), "poll"], env)
    assert (r.returncode, r.stdout) == (0, expected("poll")), r.stdout + r.stderr


def test_waiting_for_a_terminal_costs_nothing(sdk, loader):
    """stdin a terminal (always writable): a poll for input waits in the host for
    input only, not in a loop of answers about output."""
    import pty
    import resource

    master, slave = pty.openpty()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests/poll_stdin"),
                              "quiet"], env=clean_env(**loader, HERMIT_TIMEOUT="60"),
                             stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(3)
        assert p.poll() is None, p.communicate()
        os.write(master, b"x\n")
        out, err = p.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert (p.returncode, out) == (0, "quiet: read x, 0 failed\n"), err
    # Under QEMU a cpu waiting for any host call polls for the answer (a blocking
    # read of the terminal costs the same): the cost is measured under uhyve.
    if loader.get("HERMIT_ISLE") == "uhyve":
        assert cpu < 1.0, f"{cpu:.2f} s of host cpu for a 3 s wait"


def test_timeout_ends_a_guest_polling_stdin(sdk, loader):
    """HERMIT_TIMEOUT ends a guest that waits in poll(stdin) for ever (stdin stays
    open and empty), with the timeout's status."""
    rd, wr = os.pipe()
    try:
        p = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/poll_stdin"), "poll"],
                           env=clean_env(**loader, HERMIT_CPUS="2", HERMIT_TIMEOUT="3"),
                           stdin=rd, capture_output=True, text=True, timeout=60)
    finally:
        os.close(rd)
        os.close(wr)
    assert p.returncode == 124 and "timeout" in p.stderr, p


@pytest.fixture(scope="session")
def native(tmp_path_factory):
    import shutil

    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    out = tmp_path_factory.mktemp("native") / "poll_stdin"
    p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread",
                        str(ROOT / "usr/tests/poll_stdin.c"), "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("mode", MODES)
def test_native(native, mode):
    r = fed_late([str(native), mode], clean_env())
    assert (r.returncode, r.stdout) == (0, expected(mode)), r.stdout + r.stderr
