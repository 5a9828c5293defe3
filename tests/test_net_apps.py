"""The network's apps (issue 12, item 5): the HTTP server (extra/tests/server) and
netio (extra/benchmarks/netio).  Inside the guest each checks itself (--selftest:
client threads drive the server over 127.0.0.1 and compare every byte) under uhyve,
QEMU+KVM and QEMU/TCG; natively, the same sources serve real clients from other
processes (Python's http.client, a second netio), which is how a host reaches the
guest once a port is forwarded."""

import http.client
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, run
from test_net import summary

GUEST_TIMEOUT = "120"
RUN_TIMEOUT = 240

# name -> (image in the SDK, sources, selftest arguments)
APPS = {
    "server": ("extra/tests/server", ["usr/tests/server.c", "usr/tests/server_selftest.c"],
               ["--selftest", "200"]),
    "netio": ("extra/benchmarks/netio", ["usr/benchmarks/netio.c"],
              ["--selftest", "-b", str(4 << 20)]),
}


@pytest.mark.parametrize("name", list(APPS))
def test_selftest_on_hermit(sdk, loader, tmp_path, name):
    image, _, args = APPS[name]
    env = dict(loader, HERMIT_TIMEOUT=GUEST_TIMEOUT, HERMIT_CPUS="2")
    r = run(sdk, image, *args, env=env, cwd=tmp_path, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert summary(r.stdout, name) >= (50 if name == "server" else 12)
    if name == "netio":  # one line per chunk size, both directions measured
        rates = re.findall(r"^netio: chunk=(\d+) bytes=\d+ tx_MBps=([\d.]+) rx_MBps=([\d.]+)$",
                           r.stdout, re.M)
        assert [int(c) for c, _, _ in rates] == [1024, 4096, 16384, 65536], r.stdout
        assert all(float(t) > 0 and float(x) > 0 for _, t, x in rates), r.stdout


@pytest.fixture(scope="session")
def native(tmp_path_factory) -> Path:
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    out = tmp_path_factory.mktemp("native_apps")
    for name, (_, sources, _) in APPS.items():
        p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread", "-Wall", "-Werror",
                            *(str(ROOT / s) for s in sources), "-o", str(out / name)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("name", list(APPS))
def test_selftest_native(native, tmp_path, name):
    r = subprocess.run([str(native / name), *APPS[name][2]], capture_output=True, text=True,
                       cwd=tmp_path, env=clean_env(), timeout=RUN_TIMEOUT)
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert summary(r.stdout, name) > 0


def start(argv: list[str], what: str) -> tuple[subprocess.Popen, int]:
    """A server process and the port it says it listens on (0.0.0.0)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=clean_env())
    line = p.stdout.readline()
    m = re.fullmatch(rf"{what}: listening on 0\.0\.0\.0:(\d+)\n", line)
    if not m:
        p.kill()
        raise AssertionError(f"{line!r} {p.communicate()!r}")
    return p, int(m.group(1))


def test_native_server_answers_another_process(native):
    p, port = start([str(native / "server"), "0"], "server")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(3):  # one connection, kept alive
            c.request("GET", "/hello")
            r = c.getresponse()
            assert (r.status, r.read()) == (200, b"Hello from hermit\n")
            assert r.getheader("Content-Type") == "text/plain"
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 200 and b"<h1>Hello from hermit</h1>" in r.read()
        c.request("GET", "/big")
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and len(body) == 1 << 20
        assert body[:4] == b"abcd" and body[26:30] == b"bcde"  # the pattern of server.c
        c.request("HEAD", "/")
        r = c.getresponse()
        assert r.status == 200 and int(r.getheader("Content-Length")) > 0 and r.read() == b""
        c.request("GET", "/missing")
        r = c.getresponse()
        assert (r.status, r.read()) == (404, b"not found\n")
        c.close()
        if shutil.which("curl"):  # what a user types once the guest's port is forwarded
            out = subprocess.run(["curl", "-sS", f"http://localhost:{port}/hello"],
                                 capture_output=True, text=True, timeout=30)
            assert out.stdout == "Hello from hermit\n", out.stderr
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


def test_native_netio_between_processes(native):
    srv, port = start([str(native / "netio"), "-s", "-p", "0", "-n", "1"], "netio")
    try:
        c = subprocess.run([str(native / "netio"), "-c", "localhost", "-p", str(port), "-b",
                            str(1 << 20), "-k", "1k,64k"], capture_output=True, text=True,
                           env=clean_env(), timeout=RUN_TIMEOUT)
        assert c.returncode == 0, c.stdout + c.stderr
        assert re.findall(r"^netio: chunk=(\d+) bytes=1048576 tx", c.stdout, re.M) == \
            ["1024", "65536"], c.stdout
        out, _ = srv.communicate(timeout=60)  # -n 1: ends after its one client
        assert srv.returncode == 0, out
        assert len(re.findall(r"^netio server: chunk=\d+ bytes=1048576 rx_MBps", out, re.M)) == 2
        assert summary(out, "netio") == 2
    finally:
        srv.kill()
        srv.wait()


@pytest.mark.parametrize("argv, error", [
    (["server", "x"], "usage: server"),
    (["server", "70000"], "usage: server"),
    (["netio"], "usage: netio"),
    (["netio", "-c", "127.0.0.1", "-k", "0"], "usage: netio"),
])
def test_bad_arguments_are_one_line(native, argv, error):
    r = subprocess.run([str(native / argv[0]), *argv[1:]], capture_output=True, text=True,
                       env=clean_env(), timeout=30)
    assert r.returncode == 2 and r.stderr.startswith(error) and r.stderr.count("\n") == 1, r


def test_netio_refused_is_one_line(native):
    with_port = start([str(native / "server"), "0"], "server")  # a port nobody else takes
    p, port = with_port
    p.kill()
    p.wait()
    time.sleep(0.1)
    r = subprocess.run([str(native / "netio"), "-c", "127.0.0.1", "-p", str(port)],
                       capture_output=True, text=True, env=clean_env(), timeout=30)
    assert r.returncode == 2 and "Connection refused" in r.stderr and \
        r.stderr.count("\n") == 1, r


def test_an_idle_guest_with_a_connection_costs_the_host_little(sdk, loader):
    """TCP's timers run in the background while nobody waits on the network
    (net_background, every 250 ms while a connection exists): a guest that sleeps
    with a connection open still halts or blocks its idle cpus in between."""
    from hermit_build.config import kvm_is_pvm

    if loader.get("HERMIT_ISLE") == "qemu" and loader.get("HERMIT_KVM") != "0" and kvm_is_pvm():
        pytest.skip("QEMU on kvm_pvm: no interrupts reach the guest, its idle cpus poll")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    r = run(sdk, "extra/benchmarks/netio", "--idle", "2000", env=dict(loader, HERMIT_CPUS="2"))
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert r.returncode == 0 and "netio: idle " in r.stdout, r.stdout + r.stderr
    assert cpu < 0.3 * wall, f"{cpu:.2f} s of host cpu in {wall:.2f} s"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_curl_reaches_the_server_through_app_port(sdk, loader, tmp_path):
    """The issue's done-when: `HERMIT_APP_PORT=N bin/proxy extra/tests/server N` and
    `curl localhost:N` from the host, keep-alive included."""
    port = free_port()
    p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / "extra/tests/server"), str(port)],
                         env=clean_env(**loader, HERMIT_APP_PORT=str(port), HERMIT_TIMEOUT="120"),
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line == f"server: listening on 0.0.0.0:{port}\n"
        deadline = time.monotonic() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", "/hello")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"Hello from hermit\n")
        c.request("GET", "/big")  # the same connection, kept alive
        r = c.getresponse()
        assert r.status == 200 and len(r.read()) == 1 << 20
        c.close()
        if not shutil.which("curl"):
            pytest.skip("curl is not installed (tools/install-deps installs it); "
                        "http.client's requests passed")
        out = subprocess.run(["curl", "-sS", f"http://localhost:{port}/"],
                             capture_output=True, text=True, timeout=60)
        assert "<h1>Hello from hermit</h1>" in out.stdout, out.stderr
    finally:
        p.kill()
        p.wait()
