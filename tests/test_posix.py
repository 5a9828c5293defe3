"""POSIX within one process (issue 15): each capability is an app of usr/tests that
checks Linux's exact results itself (errno values, handler runs, owner-died recovery,
limits) and exits with its number of failures.  It runs under uhyve, QEMU+KVM and
QEMU/TCG, and natively as a static musl binary: the reference that proves the app's
expectations are Linux's."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, run

GUEST_TIMEOUT = "60"
RUN_TIMEOUT = 180

APPS = ["oneproc", "tmp", "robust", "sysv", "rtsig", "limits", "shm", "pi_boost"]


def summary(stdout: str, name: str) -> int:
    """The app's number of checks: its last line says all passed."""
    m = re.search(rf"^{name}: (\d+) checks, 0 failed$", stdout, re.M)
    assert m, stdout
    assert "not ok" not in stdout, stdout
    return int(m.group(1))


@pytest.mark.parametrize("name", APPS)
def test_on_hermit(sdk, loader, tmp_path, name):
    host_tmp = tmp_path / "host-tmp"  # where the loader makes the guest's /tmp
    host_tmp.mkdir()
    env = dict(loader, HERMIT_TIMEOUT=GUEST_TIMEOUT, HERMIT_VERBOSE="1", HERMIT_CPUS="2",
               TMPDIR=str(host_tmp))
    args = []
    if name == "limits":  # a read-only mount, whose statvfs says ST_RDONLY
        (tmp_path / "ro").mkdir()
        env["HERMIT_MOUNT"] = f"{tmp_path / 'ro'}:/ro:ro"
        args = ["/ro"]
    r = run(sdk, f"extra/tests/{name}", *args, env=env, cwd=tmp_path, timeout=RUN_TIMEOUT)
    assert list(host_tmp.iterdir()) == [], "the guest's /tmp outlived the run"
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert summary(r.stdout, name) > 0
    CHECK_LOG.get(name, lambda out, log: None)(r.stdout, r.stderr)
    check_files(name, tmp_path)
    if name == "limits":  # statvfs(".") gives the host's figures
        host = os.statvfs(tmp_path)
        assert f"cwd_blocks={host.f_blocks}\ncwd_bsize={host.f_frsize}\n" in r.stdout, r.stdout


def check_files(name: str, cwd: Path) -> None:
    """What an app left on the host: shm's shared mappings, written back by msync and
    munmap (never past the end of the file), and at the guest's exit."""
    if name != "shm":
        return
    data = (cwd / "mapped.dat").read_bytes()
    assert len(data) == 4096 + 100
    assert data[10:15] == b"msync" and data[20:26] == b"munmap" and data[4146:4150] == b"tail"
    assert (cwd / "at_exit.dat").read_bytes()[:16] == b"written at exit\0"


def check_oneproc_log(stdout: str, log: str) -> None:
    """Each call of another process is named once, though the app makes it twice."""
    assert "processes=one" in stdout
    for call in ("fork", "vfork", "execve", "clone without thread flags", "wait4", "waitid"):
        lines = [line for line in log.splitlines() if line.startswith(f"hermit: {call}: ")]
        assert len(lines) == 1, f"{call}: {lines}\n{log}"


def check_robust_log(stdout: str, log: str) -> None:
    """FUTEX_FD, called twice, is the one unsupported futex operation: named once."""
    lines = [line for line in log.splitlines() if "futex operation" in line]
    assert lines == ["hermit: futex operation 2 unsupported, returning -ENOSYS"], log


CHECK_LOG = {"oneproc": check_oneproc_log, "robust": check_robust_log}


def test_private_tmp_is_gone_when_the_loader_is_killed(sdk, loader, tmp_path):
    """SIGKILL runs no cleanup in the loader: its reaper removes the directory."""
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests/tmp"), "hold"],
                         env=clean_env(**loader, HERMIT_TIMEOUT=GUEST_TIMEOUT,
                                       TMPDIR=str(host_tmp)),
                         stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert p.stdout.readline() == "held\n"
        (private,) = host_tmp.iterdir()  # the run's: its /tmp and /dev/shm
        assert sorted(f.name for f in private.iterdir()) == ["shm", "tmp"]
        assert [f.name for f in (private / "tmp").iterdir()] == ["held"]
    finally:
        p.kill()
        p.wait()
    deadline = time.monotonic() + 10
    while list(host_tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(host_tmp.iterdir()) == [], "the guest's /tmp outlived a killed loader"


def test_a_mounted_tmp_is_the_users(sdk, tmp_path):
    """A mount at /tmp (here the working directory itself) replaces the private one."""
    (tmp_path / "mine").write_text("")
    r = run(sdk, "extra/tests/tmp", env={"HERMIT_MOUNT": f"{tmp_path}:/tmp"}, cwd=tmp_path)
    assert "not ok 1 - /tmp starts empty" in r.stdout, r.stdout


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory) -> Path:
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    out = tmp_path_factory.mktemp("native")
    for name in [*APPS, "cancel_compute"]:
        p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread",
                            str(ROOT / "usr/tests" / f"{name}.c"), "-o", str(out / name)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("name", APPS)
def test_native(native_dir, tmp_path, name):
    """The reference: Linux gives the results the app expects."""
    r = subprocess.run([str(native_dir / name)], capture_output=True, text=True, cwd=tmp_path,
                       timeout=RUN_TIMEOUT,
                       env={k: v for k, v in os.environ.items() if not k.startswith("HERMIT_")})
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    if "pi_boost=skipped" in r.stdout:
        pytest.skip("SCHED_FIFO is not allowed here (pi_boost needs it on Linux)")
    assert summary(r.stdout, name) > 0
    check_files(name, tmp_path)


@pytest.mark.parametrize("cpus", [1, 2])
def test_asynchronous_cancel_of_a_computing_thread(sdk, loader, cpus):
    """§5: a thread that only computes is cancelled where it spins (an interrupt, or on
    kvm_pvm under uhyve the loader's events, delivers SIGCANCEL there)."""
    from test_threads import no_interrupts

    if no_interrupts(loader):
        pytest.skip("QEMU on kvm_pvm: no interrupts reach the guest, so nothing stops a "
                    "thread that makes no system call (README: Not yet)")
    r = run(sdk, "extra/tests/cancel_compute", str(cpus),
            env=dict(loader, HERMIT_CPUS=str(cpus), HERMIT_TIMEOUT=GUEST_TIMEOUT),
            timeout=RUN_TIMEOUT)
    assert r.returncode == 0 and r.stdout == "cancel_compute ok\n", r.stdout + r.stderr


@pytest.mark.parametrize("cpus", [1, 2])
def test_asynchronous_cancel_natively(native_dir, cpus):
    r = subprocess.run([str(native_dir / "cancel_compute"), str(cpus)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "cancel_compute ok\n", r.stdout + r.stderr
