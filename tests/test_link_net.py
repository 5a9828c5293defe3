"""The network (lwIP, the NICs, the socket calls) is a member of libhermit.a of its
own (tools/mklibhermit.sh), linked only into images that call socket(): a stripped
`hello` stays under the boot issue's 200 KB, an image that uses sockets has all of
the network, and one that makes the system call itself without it gets ENOSYS."""

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, run
from test_toolchain import copy_fixture, hcc

HELLO_LIMIT = 200 * 1024  # usr/benchmarks/bootreport.py's TARGET_SIZE_KB
LWIP = "tcp_output"  # a function of lwIP's, local in the image's symbol table


def symbols(sdk: Path, image: Path) -> set[str]:
    out = subprocess.run([str(sdk / "bin/x86_64-hermit-nm"), str(image)], capture_output=True,
                         text=True, check=True).stdout
    return {ln.split()[-1] for ln in out.splitlines() if ln.strip()}


def has_network(sdk: Path) -> bool:
    return "__hermit_net" in symbols(sdk, sdk / "extra/tests/net_echo")


def test_stripped_hello_is_under_200_kb(sdk, tmp_path):
    copy = tmp_path / "hello"
    shutil.copy(sdk / "extra/tests/hello", copy)
    r = subprocess.run([str(sdk / "bin/x86_64-hermit-strip"), str(copy)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    size = copy.stat().st_size
    assert size <= HELLO_LIMIT, f"stripped hello: {size} bytes ({size / 1024:.1f} KB)"
    names = symbols(sdk, sdk / "extra/tests/hello")
    assert LWIP not in names and "__hermit_net" not in names and "hermit_entry" in names


def test_images_that_call_socket_have_the_network(sdk):
    if not has_network(sdk):
        pytest.skip("built without the network (Meson option net)")
    for app in ("net_echo", "net_loopback", "server"):
        assert LWIP in symbols(sdk, sdk / "extra/tests" / app), app


def test_crash_reports_and_profiles_name_shared_functions_as_the_source_does(sdk):
    """memcpy is shared between the kernel's members (__hermit_k_memcpy in the image);
    the loader's symbolizer shows it as memcpy."""
    from hermit_build.abi.spec import STRINGS
    from hermit_build.elf import Symbolizer

    image = sdk / "extra/tests/hello"
    out = subprocess.run([str(sdk / "bin/x86_64-hermit-nm"), str(image)], capture_output=True,
                         text=True, check=True).stdout
    shared = STRINGS["SHARED_SYMBOL_PREFIX"] + "memcpy"
    addr = [int(ln.split()[0], 16) for ln in out.splitlines() if ln.endswith(" " + shared)]
    assert len(addr) == 1, out
    assert Symbolizer(str(image)).lookup(addr[0] + 1) == "memcpy+0x1"


@pytest.fixture(scope="module")
def net_link(sdk, tmp_path_factory) -> Path:
    """net_link.c four ways: calling socket() (also with -lc named before the SDK's
    libraries), making the system call itself, and that with -Wl,-u,__hermit_net."""
    if not has_network(sdk):
        pytest.skip("built without the network (Meson option net)")
    work = tmp_path_factory.mktemp("net_link")
    copy_fixture("net_link.c", work)
    hcc(sdk, "-O2", "net_link.c", "-o", "socket", cwd=work)
    hcc(sdk, "-O2", "net_link.c", "-lc", "-o", "socket-lc", cwd=work)  # libc named first
    hcc(sdk, "-O2", "-DRAW_SOCKET", "net_link.c", "-o", "raw", cwd=work)
    hcc(sdk, "-O2", "-DRAW_SOCKET", "-Wl,-u,__hermit_net", "net_link.c", "-o", "raw-net",
        cwd=work)
    return work


@pytest.mark.parametrize("image,linked", [("socket", True), ("socket-lc", True), ("raw", False),
                                          ("raw-net", True)])
def test_socket_works_where_the_network_is_linked(sdk, loader, net_link, image, linked):
    assert (LWIP in symbols(sdk, net_link / image)) == linked
    r = run(sdk, str(net_link / image), env=dict(loader, HERMIT_TIMEOUT="60",
                                                  HERMIT_VERBOSE="1"), cwd=net_link)
    first = "tcp over 127.0.0.1: ping" if linked else "socket: ENOSYS"
    assert r.stdout.splitlines() == [first, "own functions: 31"], r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    # the kernel says once how to link the network in
    assert ("-Wl,-u,__hermit_net" in r.stderr) == (not linked), r.stderr


def test_net_disabled_builds_a_kernel_without_network_member(tmp_path):
    """-Dnet=disabled: libhermit.a has the core, no network member and no socket()."""
    meson, ninja = shutil.which("meson"), shutil.which("ninja")
    if not meson or not ninja:
        pytest.skip("meson or ninja not found (run the tests with `nox -s tests`)")
    build = tmp_path / "build"
    env = clean_env()
    r = subprocess.run([meson, "setup", str(build), "--cross-file", str(ROOT / "hermit.ini"),
                        "-Dnet=disabled", "-Dsdk_libc=disabled", "-Druntime=false",
                        "-Dtests=false", "-Dbenchmarks=false"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([ninja, "-C", str(build), "libhermit.a"], env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    members = subprocess.run(["ar", "t", str(build / "libhermit.a")], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "libhermit.o" in members and "libhermit-net.o" not in members, members
    assert not any(m.startswith("socket") for m in members), members
    # an application that calls socket() links (musl's socket(): ENOSYS at run time)
    r = subprocess.run([str(ROOT / "tools/x86_64-hermit-gcc"), str(ROOT / "usr/tests/net_echo.c"),
                        str(build / "libhermit.a"), "-o", str(tmp_path / "net_echo")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
