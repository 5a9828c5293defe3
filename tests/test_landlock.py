"""The loader's second line: Landlock on its own process, and no file capabilities.

Each confinement is tried in a fresh `python3 -S` (as bin/proxy runs) since Landlock
and dropped capabilities last for the life of the process.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, children, clean_env, run

from hermit_build import landlock

ABI = landlock.kernel_abi({})
needs_landlock = pytest.mark.skipif(ABI == 0, reason="this kernel offers no Landlock")

# Runs in the child: confine to argv[1]'s mounts like the loader, then try each access.
PROBE = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    from hermit_build import landlock
    spec = json.loads(sys.argv[2])
    abi = landlock.confine([tuple(m) for m in spec["mounts"]], spec["image"],
                           writes=tuple(spec.get("writes", ())))
    out = {"abi": abi}
    for name, (path, flags) in spec["tries"].items():
        try:
            os.close(os.open(path, flags, 0o644))
            out[name] = "ok"
        except OSError as e:
            out[name] = e.errno
    if spec.get("import_late"):
        from hermit_build.lazy import enable_site
        enable_site()
        import elftools.elf.elffile  # noqa: F401 - the crash report's lazy import
        out["late_import"] = "ok"
    print(json.dumps(out))
""")


def probe(tmp_path: Path, mounts, tries, env=None, **extra) -> dict:
    spec = {"mounts": mounts, "tries": tries, "image": None, **extra}
    r = subprocess.run(["/usr/bin/python3", "-S", "-c", PROBE, str(ROOT), json.dumps(spec)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60,
                       env=clean_env(**(env or {})))
    assert r.returncode == 0, r.stderr
    return {"stderr": r.stderr, **json.loads(r.stdout)}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for d in ("rw", "ro", "outside"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "f").write_text(d)
    (tmp_path / "outside/capture").write_text("")  # a file the loader writes itself
    return tmp_path


RD, WR, NEW = os.O_RDONLY, os.O_WRONLY, os.O_WRONLY | os.O_CREAT


@needs_landlock
@pytest.mark.parametrize("abi", sorted({1, 2, 3, ABI}))
def test_only_the_mounts_are_reachable(tree, abi):
    """What a file service with a bug would try: the host kernel refuses it."""
    r = probe(tree, [[str(tree / "rw"), False], [str(tree / "ro"), True]], {
        "outside_read": [str(tree / "outside/f"), RD],
        "outside_create": [str(tree / "outside/new"), NEW],
        "host_secret": ["/etc/passwd", RD],
        "rw_read": [str(tree / "rw/f"), RD],
        "rw_write": [str(tree / "rw/f"), WR],
        "rw_create": [str(tree / "rw/new"), NEW],
        "ro_read": [str(tree / "ro/f"), RD],
        "ro_write": [str(tree / "ro/f"), WR],
        "ro_create": [str(tree / "ro/new"), NEW],
        "stdlib_write": [os.__file__, WR],
        "loader_writes": [str(tree / "outside/capture"), WR],
    }, env={"HERMIT_LANDLOCK_ABI": str(abi)}, import_late=True,
        writes=[str(tree / "outside/capture")])
    assert r["abi"] == abi
    denied = {"outside_read", "outside_create", "host_secret", "ro_write", "ro_create",
              "stdlib_write"}
    assert {k for k, v in r.items() if v == 13} == denied, r
    assert all(r[k] == "ok" for k in ("rw_read", "rw_write", "rw_create", "ro_read",
                                      "loader_writes"))
    assert r["late_import"] == "ok"
    assert not (tree / "outside/new").exists() and not (tree / "ro/new").exists()


def test_without_landlock_one_line_says_so(tree):
    r = probe(tree, [[str(tree / "rw"), False]], {"outside_read": [str(tree / "outside/f"), RD]},
              env={"HERMIT_LANDLOCK_ABI": "0"})
    assert r["abi"] == 0 and r["outside_read"] == "ok"  # unconfined, and it says so
    assert r["stderr"].splitlines() == [landlock.NOTICE]


@needs_landlock
def test_the_proxy_confines_itself_and_can_be_told_not_to(sdk, loader, tmp_path):
    """A guest runs as before under Landlock; HERMIT_LANDLOCK=0 silences the notice."""
    for env in ({}, {"HERMIT_LANDLOCK": "0"}, {"HERMIT_LANDLOCK_ABI": "0"}):
        r = run(sdk, "extra/tests/hello", env={**loader, **env}, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        notice = env.get("HERMIT_LANDLOCK_ABI") == "0"
        assert (landlock.NOTICE in r.stderr) == notice, r.stderr
        assert len(r.stderr.splitlines()) == int(notice), r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="root's permission override needs root")
def test_root_obeys_mode_bits_once_confined(tmp_path):
    """Without CAP_DAC_OVERRIDE, root cannot write a file whose mode says read-only."""
    f = tmp_path / "readonly"
    f.write_text("keep")
    f.chmod(0o444)
    code = (f"import sys, os; sys.path.insert(0, {str(ROOT)!r})\n"
            "from hermit_build import privs\n"
            f"fd = os.open({str(f)!r}, os.O_WRONLY); os.close(fd)\n"  # root: allowed
            "privs.drop_fs_caps()\n"
            f"os.open({str(f)!r}, os.O_WRONLY)\n")
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert "PermissionError" in r.stderr and r.returncode == 1, r.stderr
    assert f.read_text() == "keep"


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@needs_landlock
def test_a_running_loader_is_confined_and_qemu_is_sandboxed(sdk, loader, tmp_path):
    """While a guest runs: the loader has no_new_privs and no file-system capabilities;
    QEMU (not under the loader's Landlock) runs under its seccomp sandbox."""
    import time

    from hermit_build.privs import FS_CAPS

    p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests/hang")], cwd=tmp_path,
                         env=clean_env(**loader), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while b"hang" not in p.stdout.readline() and time.monotonic() < deadline:
            pass
        status = _status(p.pid)
        assert status["NoNewPrivs"] == "1"
        assert int(status["CapEff"], 16) & sum(1 << c for c in FS_CAPS) == 0
        if loader["HERMIT_ISLE"] == "qemu":
            # besides QEMU, the loader's child is the reaper of the guest's /tmp (sh)
            (qemu,) = [c for c in children(p.pid) if _status(c)["Name"] != "sh"]
            status = _status(qemu)
            assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
            assert int(status["CapEff"], 16) & sum(1 << c for c in FS_CAPS) == 0
    finally:
        p.kill()
        p.communicate()


@pytest.mark.skipif(os.geteuid() != 0, reason="root's permission override needs root")
def test_a_guest_of_root_obeys_mode_bits(sdk, loader, tmp_path):
    """A loader run by root reads for its guest only what the file's mode allows
    (HERMIT_LANDLOCK=0 keeps root's override: the test's control)."""
    (tmp_path / "private").write_text("secret\n")
    (tmp_path / "private").chmod(0)
    r = run(sdk, "extra/tests/cat", "private", env=loader, cwd=tmp_path)
    assert r.returncode != 0 and "secret" not in r.stdout, r
    r = run(sdk, "extra/tests/cat", "private", env={**loader, "HERMIT_LANDLOCK": "0"},
            cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "secret\n", r


# The proxy with a file service that has a bug: open takes every guest path as a
# host path, unchecked (the resolver of hermit_build/hostfs bypassed).
BUGGY_PROXY = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from hermit_build.hostfs import service

    def sys_openat(self, dirfd, path, flags, mode, *_):
        fd = os.open(self.path(path), os.O_RDONLY | os.O_CLOEXEC)
        return self._install_host(fd, self.mounts.mounts[-1], "/")

    service.FileService.sys_openat = sys_openat
    from hermit_build.proxy import main
    sys.exit(main(sys.argv[2:]))
""")


@needs_landlock
def test_a_file_service_bug_does_not_reach_the_host(sdk, loader, tmp_path):
    secret = tmp_path / "outside" / "secret"
    secret.parent.mkdir()
    secret.write_text("canary 5f0c\n")
    (tmp_path / "cwd").mkdir()

    def cat(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/usr/bin/python3", "-S", "-c", BUGGY_PROXY, str(sdk / "lib/hermit/python"),
             str(sdk / "extra/tests/cat"), str(secret)],
            cwd=tmp_path / "cwd", env=clean_env(**loader, **env), capture_output=True,
            text=True, timeout=120)

    r = cat(HERMIT_LANDLOCK="0")
    assert r.stdout == "canary 5f0c\n", r.stderr  # the bug is real: the control
    r = cat()
    assert r.returncode == 1 and "canary" not in r.stdout, r.stdout
    assert "Permission denied" in r.stderr, r.stderr


def test_only_rights_the_kernel_knows_are_asked_for():
    h = landlock.handled_rights
    assert h(0) == 0 and h(1) == (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    assert h(2) == h(1) | landlock.REFER and h(3) == h(4) == h(2) | landlock.TRUNCATE
    assert h(5) == h(7) == h(99) == h(3) | landlock.IOCTL_DEV
