"""The guest's network across its NIC under every loader: lwIP's sockets over
drivers/net/ (uhyve's rings, virtio-net over virtio-mmio on QEMU microvm, over PCI on
pc and q35) and each loader's user-mode network (libslirp, QEMU's -netdev user).
usr/tests/net_echo serves or connects; the host side is this test: bytes over a
forwarded port (HERMIT_APP_PORT), the host's loopback on listed ports only
(HERMIT_HOST_PORTS), UDP, two guests, captures, and the bad inputs."""

import re
import shutil
import socket
import socketserver
import subprocess
import threading
import time

import pytest
from conftest import clean_env, run

ECHO = "extra/tests/net_echo"
BIG = 4 << 20  # bytes each way: thousands of frames, every ring and queue wraps


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pattern(n: int) -> bytes:
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


class Served:
    """`net_echo serve 7777` in a guest whose host port H forwards to it."""

    def __init__(self, sdk, loader, extra=None, n=1, cwd=None):
        self.host = free_port()
        env = clean_env(**loader, HERMIT_APP_PORT=f"{self.host}:7777", HERMIT_VERBOSE="1",
                        **(extra or {}))
        self.p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / ECHO), "serve", "7777",
                                   str(n)], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line == "listening 7777\n", line + self.p.stderr.read()

    def echo(self, data: bytes) -> bytes:
        """Send data, read its echo at the same time (neither side's buffers fill)."""
        got = bytearray()
        with socket.create_connection(("127.0.0.1", self.host), timeout=30) as s:
            def reader() -> None:
                while chunk := s.recv(65536):
                    got.extend(chunk)

            t = threading.Thread(target=reader)
            t.start()
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            t.join(60)
        return bytes(got)

    def finish(self) -> tuple[int, str, str]:
        try:
            out, err = self.p.communicate(timeout=60)
        finally:
            self.p.kill()
        return self.p.returncode, out, err


def test_the_host_reaches_a_guest_server_through_app_port(sdk, loader):
    guest = Served(sdk, loader)
    data = pattern(BIG)
    t = time.monotonic()
    got = guest.echo(data)
    seconds = time.monotonic() - t
    status, out, err = guest.finish()
    assert got == data, f"{len(got)} of {len(data)} bytes came back"
    assert status == 0 and out.endswith("served 1\n"), err
    nic = "uhyve-net" if loader["HERMIT_ISLE"] == "uhyve" else "virtio-net"
    assert f"hermit: {nic} 52:54:00:12:34:56, MTU 1500" in err
    if loader["HERMIT_ISLE"] == "uhyve":  # sending costs a kick only while its thread sleeps
        m = re.search(r"uhyve: NIC: (\d+) frames sent \((\d+) HC_NET_KICK", err)
        assert m and int(m[1]) > 2000 and int(m[2]) * 10 < int(m[1]), m and m[0]
    print(f"{loader['HERMIT_ISLE']}: {BIG >> 20} MiB each way in {seconds:.2f} s")


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while chunk := self.request.recv(65536):
            self.request.sendall(chunk)


def host_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def allow(loader: dict[str, str], port: int | None) -> dict[str, str]:
    env = dict(loader)
    if port is not None:  # QEMU opens the host's loopback whole or not at all
        env["HERMIT_HOST_PORTS"] = str(port) if loader["HERMIT_ISLE"] == "uhyve" else "all"
    return env


def test_the_guest_reaches_a_listed_host_port(sdk, loader):
    with host_server() as server:
        port = server.server_address[1]
        r = run(sdk, ECHO, "connect", "10.0.2.2", str(port), str(1 << 20),
                env=allow(loader, port))
        closed = run(sdk, ECHO, "connect", "10.0.2.2", str(port), "100",
                     env=allow(loader, None))
        other = (run(sdk, ECHO, "connect", "10.0.2.2", str(port), "100",
                     env=allow(loader, free_port())) if loader["HERMIT_ISLE"] == "uhyve"
                 else closed)
        server.shutdown()
    assert r.returncode == 0 and r.stdout == f"echoed {1 << 20}\n", r.stderr
    for denied in (closed, other):  # dropped (uhyve) or refused (QEMU's restrict=on)
        assert (denied.returncode == 3 and denied.stdout == "no answer\n") or (
            denied.returncode == 1 and "connect: Connection refused" in denied.stderr), \
            denied.stdout + denied.stderr


def test_udp_to_a_listed_host_port(sdk, loader):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]

        def bounce() -> None:
            data, peer = u.recvfrom(100)
            u.sendto(data, peer)

        t = threading.Thread(target=bounce, daemon=True)
        t.start()
        r = run(sdk, ECHO, "udp", "10.0.2.2", str(port), env=allow(loader, port))
    assert r.returncode == 0 and r.stdout == "udp echoed\n", r.stderr


def test_two_guests_through_a_forwarded_port(sdk, loader):
    """Guest A serves on its port 7777, forwarded from host port H; guest B, allowed to
    reach H on the host's loopback, sends to 10.0.2.2:H and gets the echo."""
    a = Served(sdk, loader)
    b = run(sdk, ECHO, "connect", "10.0.2.2", str(a.host), "65536", env=allow(loader, a.host))
    status, out, err = a.finish()
    assert b.returncode == 0 and b.stdout == "echoed 65536\n", b.stderr
    assert status == 0 and out.endswith("served 1\n"), err


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_virtio_net_pci(sdk, machine):
    """pc and q35 (TCG: with KVM on kvm_pvm their firmware alone takes seconds)."""
    loader = {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0", "HERMIT_MACHINE": machine}
    guest = Served(sdk, loader)
    data = pattern(256 << 10)
    assert guest.echo(data) == data
    status, _out, err = guest.finish()
    assert status == 0 and "hermit: virtio-net over virtio-pci" in err, err


def test_no_nic_when_switched_off(sdk, loader):
    r = run(sdk, ECHO, "connect", "10.0.2.2", "9", "1", env=dict(loader, HERMIT_NET="0"))
    assert r.returncode == 1 and "connect: Network unreachable" in r.stderr, r.stderr


def test_capture_is_read_by_tcpdump(sdk, loader, tmp_path):
    guest = Served(sdk, loader, {"HERMIT_CAPTURE_NET": "1"}, cwd=tmp_path)
    assert guest.echo(b"captured") == b"captured"
    assert guest.finish()[0] == 0
    pcap = tmp_path / "hermit-net.pcap"
    assert pcap.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (apt-get install tcpdump): the header was checked")
    t = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
    assert "BOOTP/DHCP" in t.stdout  # the guest asked for its address
    assert re.search(r"> 10\.0\.2\.15\.7777: Flags \[S\]", t.stdout), t.stdout
    assert "length 8" in t.stdout  # the 8 bytes each way


def test_an_image_without_network_never_loads_libslirp(sdk, kvm_loader):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "uhyve",
                                           "HERMIT_LIBSLIRP": "libslirp-not-there.so.0"})
    assert r.returncode == 0, r.stderr


def test_libslirp_missing_is_one_line(sdk, kvm_loader):
    r = run(sdk, ECHO, "connect", "10.0.2.2", "9", "1",
            env={"HERMIT_ISLE": "uhyve", "HERMIT_LIBSLIRP": "libslirp-not-there.so.0"})
    line = one_line(r)
    assert line.startswith("proxy: the guest asks for a network, but libslirp.so.0 cannot")
    assert line.endswith("install libslirp0 (apt-get install libslirp0)")


@pytest.mark.parametrize("value", ["http", "8080:", "0", "70000", "80,80"])
def test_malformed_app_port_is_one_line(sdk, loader, value):
    r = run(sdk, "extra/tests/hello", env=dict(loader, HERMIT_APP_PORT=value))
    assert one_line(r).startswith(f"proxy: HERMIT_APP_PORT={value!r} ")


def test_forwarded_port_in_use_is_one_line(sdk, loader):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run(sdk, ECHO, "serve", "80", env=dict(loader, HERMIT_APP_PORT=f"{port}:80"))
    line = one_line(r)
    assert f"host port {port} (HERMIT_APP_PORT) is in use" in line
