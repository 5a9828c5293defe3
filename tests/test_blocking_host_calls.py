"""Host calls that block: one waiting thread stops no other, the timeout and signals
still end the guest, and the guest's O_NONBLOCK on stdin stays its own."""

import fcntl
import os
import select
import signal
import subprocess
import time

import pytest
from conftest import clean_env

TIMEOUT = 3  # HERMIT_TIMEOUT of the deadlocked guests
BOUND = 20  # seconds: a deadlocked guest must be over well within this
VCPU_LINE = "hermit: vCPU "  # uhyve says where each vCPU was when the timeout hit


def start(sdk, app, *args, env, cwd, stdin=subprocess.PIPE):
    return subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests" / app), *args],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(**env), cwd=cwd)


def wait_for_line(proc, text, seconds=60.0):
    """The guest's stdout up to and including the first line containing `text`."""
    out, deadline = b"", time.monotonic() + seconds
    fd = proc.stdout.fileno()
    while text.encode() not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            proc.kill()
            pytest.fail(f"no {text!r} within {seconds} s; stdout so far: {out!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            proc.wait()
            pytest.fail(f"stdout ended without {text!r}: {out!r}; "
                        f"stderr: {proc.stderr.read()!r}")
        out += chunk
    return out.decode()


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if not ln.startswith(VCPU_LINE)]


@pytest.mark.parametrize("cpus, where", [(1, None), (2, None), (2, 0), (2, 1), (4, 3)])
def test_flock_deadlock_ends_at_the_timeout(sdk, loader, tmp_path, cpus, where):
    """`where`: the cpu the waiting thread is pinned to (uhyve: 0 is the loader's main
    thread, which the timeout's signal reaches; the others' are not)."""
    env = dict(loader, HERMIT_CPUS=str(cpus), HERMIT_TIMEOUT=str(TIMEOUT))
    pin = [] if where is None else ["lockfile", str(where)]
    t0 = time.monotonic()
    r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/flock_deadlock"), *pin],
                       env=clean_env(**env), cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 124, r.stdout + r.stderr
    assert elapsed < BOUND, f"took {elapsed:.1f} s"
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "timeout" in lines[0], r.stderr
    assert "second thread takes the lock" in r.stdout, r.stdout
    if where is not None:
        assert f"second thread takes the lock on cpu {where}\n" in r.stdout
    assert "NOT" not in r.stdout
    if cpus > 1:  # the other cpus went on while one thread waited in the host
        assert "main thread runs while the other waits" in r.stdout, r.stdout


def test_a_waiting_read_stops_no_other_host_call(sdk, loader, tmp_path):
    p = start(sdk, "read_while_busy", env=dict(loader, HERMIT_CPUS="2"), cwd=tmp_path)
    try:
        seen = wait_for_line(p, "files work while the reader waits")
        assert "reader got" not in seen  # it still waits: stdin is empty
        out, err = p.communicate(b"hello\n", timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err.decode()
    assert "reader got 6 bytes: hello\ndone\n" in out.decode()


@pytest.mark.parametrize("mode", ["exit", "main"])
def test_exit_while_a_thread_waits_in_the_host(sdk, loader, tmp_path, mode):
    """exit_group from one cpu while another waits in read(0): the proxy ends at once."""
    r, w = os.pipe()  # stdin stays open and empty: the read never ends
    try:
        p = start(sdk, "read_while_busy", mode, env=dict(loader, HERMIT_CPUS="2"),
                  cwd=tmp_path, stdin=r)
        try:
            out, err = p.communicate(timeout=60)
        finally:
            p.kill()
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == 0, err.decode()
    assert out.decode() == "files work while the reader waits\n"
    assert err == b""


@pytest.mark.parametrize("sig, status, word", [(signal.SIGTERM, 143, "terminated"),
                                               (signal.SIGINT, 130, "interrupted")])
def test_signal_ends_a_guest_waiting_in_the_host(sdk, loader, tmp_path, sig, status, word):
    p = start(sdk, "flock_deadlock", env=dict(loader, HERMIT_CPUS="2"), cwd=tmp_path)
    try:
        wait_for_line(p, "second thread takes the lock")
        time.sleep(0.5)  # it waits in flock now
        p.send_signal(sig)
        _, err = p.communicate(timeout=BOUND)
    finally:
        p.kill()
    assert p.returncode == status, err.decode()
    assert err.decode() == f"proxy: {word}\n"


def test_nonblocking_stdin_is_the_guests_own(sdk, loader, tmp_path):
    r, w = os.pipe()  # the test keeps both ends: the read end's flags are checked after
    try:
        p = start(sdk, "nonblock_stdin", env=loader, cwd=tmp_path, stdin=r)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out.decode() + err.decode()
        assert out.decode() == "O_NONBLOCK set, on a dup set\nread: EAGAIN\n"
        assert not fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK  # the shell's stdin
    finally:
        os.close(r)
        os.close(w)
