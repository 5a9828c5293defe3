"""Host files from the guest: every file call, stdin, the mount policy, wild pointers,
and stopping a guest with a signal."""

import os
import signal
import subprocess

import pytest
from conftest import clean_env, run


def test_file_calls(sdk, loader, tmp_path):
    (tmp_path / "work").mkdir()
    r = run(sdk, "extra/tests/hostfs", "work", env=loader, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not ok" not in r.stdout
    assert r.stdout.splitlines()[-1] == "74 checks, 0 failed"
    assert list((tmp_path / "work").iterdir()) == []  # the app cleaned up after itself


def test_files_written_by_the_guest_reach_the_host(sdk, loader, tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(300_000))
    r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/cat"), "in.bin"],
                       env=clean_env(**loader), cwd=tmp_path, capture_output=True, timeout=120)
    assert r.stdout == src.read_bytes()


def test_stdin_is_the_proxys(sdk, loader, tmp_path):
    data = bytes(range(256)) * 1000
    r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/cat")], input=data,
                       env=clean_env(**loader), capture_output=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_missing_file_is_enoent(sdk, loader, tmp_path):
    r = run(sdk, "extra/tests/cat", "nope.txt", env=loader, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == "nope.txt: No such file or directory\n"


def escape_setup(tmp_path):
    work, ro, outside = tmp_path / "work", tmp_path / "ro", tmp_path / "outside.txt"
    work.mkdir()
    ro.mkdir()
    (ro / "existing.txt").write_text("keep me\n")
    outside.write_text("secret\n")
    return work, ro, outside


def test_mount_flag_of_hermit_run(sdk, tmp_path):
    work, ro, outside = escape_setup(tmp_path)
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", "qemu", "--no-kvm",
                        "--mount", f"{ro}:/data:ro", str(sdk / "extra/tests/cat"),
                        "/data/existing.txt"], env=clean_env(), cwd=work, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "keep me\n"


def test_broader_access_is_explicit(sdk, tmp_path):
    work, _ro, outside = escape_setup(tmp_path)
    r = run(sdk, "extra/tests/cat", str(outside), env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                                      "HERMIT_MOUNT": f"{tmp_path}"}, cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "secret\n"


@pytest.mark.parametrize("spec,needle", [
    ("/nonexistent-dir", "is not a directory"),
    ("::ro", "is not HOST[:GUEST][:ro]"),
    (".:relative", "the guest path must be absolute"),
])
def test_bad_mount_is_one_line(sdk, tmp_path, spec, needle):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                          "HERMIT_MOUNT": spec}, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_guest(sdk, tmp_path, sig, status):
    p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests/hang")],
                         env=clean_env(HERMIT_ISLE="qemu", HERMIT_KVM="0"), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"hanging\n"  # the guest runs
    p.send_signal(sig)
    _out, err = p.communicate(timeout=20)
    assert p.returncode == status, err
    left = subprocess.run(["pgrep", "-f", f"{sdk}/extra/tests/hang"], capture_output=True)
    assert left.returncode == 1, "a QEMU process was left behind"


def test_guest_namespace(sdk, loader, tmp_path):
    """The ancestors of the working directory, the synthetic files, and the escapes of
    issue 9 (O_EXCL through a symlink, a symlink into a read-only mount, rmdir of the
    working directory, set-id bits), seen from the guest."""
    work, ro, outside = escape_setup(tmp_path)
    image = os.path.realpath(sdk / "extra/tests/namespace")
    r = run(sdk, "extra/tests/namespace", str(image), str(outside), "/data",
            env=dict(loader, HERMIT_MOUNT=f"{ro}:/data:ro"), cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "34 checks, 0 failed"
    assert list(work.iterdir()) == []
    assert outside.read_text() == "secret\n"
    assert sorted(p.name for p in ro.iterdir()) == ["existing.txt"]
