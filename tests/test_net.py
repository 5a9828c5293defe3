"""Networking (issue 12): the guest's stack and the one wait mechanism.  Each app of
usr/tests checks Linux's results itself and exits with its number of failures; it
runs under uhyve, QEMU+KVM and QEMU/TCG, and natively as a static musl binary (the
reference that proves the expectations are Linux's)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, run

GUEST_TIMEOUT = "90"
RUN_TIMEOUT = 180

# app -> arguments
APPS = {"poll_pipes": [], "net_loopback": [], "net_epoll": ["1000"]}


def summary(stdout: str, name: str) -> int:
    """The app's number of checks: its last line says all passed."""
    m = re.search(rf"^{name}: (\d+) checks, 0 failed$", stdout, re.M)
    assert m, stdout
    assert "not ok" not in stdout, stdout
    return int(m.group(1))


@pytest.mark.parametrize("name", list(APPS))
def test_on_hermit(sdk, loader, tmp_path, name):
    env = dict(loader, HERMIT_TIMEOUT=GUEST_TIMEOUT, HERMIT_CPUS="2")
    r = run(sdk, f"extra/tests/{name}", *APPS[name], env=env, cwd=tmp_path,
            timeout=RUN_TIMEOUT)
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert summary(r.stdout, name) > 0


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory) -> Path:
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    out = tmp_path_factory.mktemp("native")
    for name in APPS:
        p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread",
                            str(ROOT / "usr/tests" / f"{name}.c"), "-o", str(out / name)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("name", list(APPS))
def test_native(native_dir, tmp_path, name):
    r = subprocess.run([str(native_dir / name), *APPS[name]], capture_output=True, text=True,
                       cwd=tmp_path, env=clean_env(), timeout=RUN_TIMEOUT)
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert summary(r.stdout, name) > 0


def configure_without_lwip(tmp_path: Path, net: str) -> subprocess.CompletedProcess:
    """`meson setup` with an apt-get that cannot fetch anything (the sources
    unreachable), so tools/debsrc fails to fetch lwIP."""
    meson = shutil.which("meson")
    if not meson:
        pytest.skip("meson not found (run the tests with `nox -s tests`)")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho 'E: no network here' >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    env = clean_env(PATH=f"{fake}:{Path(meson).parent}:/usr/bin:/bin")
    return subprocess.run([meson, "setup", str(tmp_path / "build"), "--cross-file",
                           str(ROOT / "hermit.ini"), f"-Dnet={net}", "-Dsdk_libc=disabled",
                           "-Druntime=false", "-Dtests=false", "-Dbenchmarks=false"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_net_enabled_without_lwip_is_a_configure_error(tmp_path):
    r = configure_without_lwip(tmp_path, "enabled")
    assert r.returncode != 0, r.stdout
    err = [ln for ln in r.stdout.splitlines() if "ERROR:" in ln]
    assert len(err) == 1 and "tools/debsrc lwip" in err[0] and "no network here" in err[0], \
        r.stdout


def test_net_auto_without_lwip_says_once_how_to_fetch_it(tmp_path):
    r = configure_without_lwip(tmp_path, "auto")
    assert r.returncode == 0, r.stdout + r.stderr
    said = [ln for ln in r.stdout.splitlines() if "tools/debsrc lwip" in ln]
    assert len(said) == 1 and "WARNING: net:" in said[0], r.stdout


@pytest.mark.parametrize("net", ["1", "0"])
def test_resolv_conf_names_the_user_networks_dns_relay(sdk, loader, tmp_path, net):
    """With user-mode networking the guest's resolver asks its DNS relay (10.0.2.3 under
    both loaders); without a network the file says there is none."""
    env = dict(loader, HERMIT_TIMEOUT=GUEST_TIMEOUT, HERMIT_NET=net)
    r = run(sdk, "extra/tests/cat", "/etc/resolv.conf", env=env, cwd=tmp_path,
            timeout=RUN_TIMEOUT)
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    servers = re.findall(r"^nameserver (\S+)$", r.stdout, re.M)
    assert servers == (["10.0.2.3"] if net == "1" else []), r.stdout
