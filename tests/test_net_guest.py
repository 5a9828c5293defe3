"""The guest's NIC under every loader: drivers/net/ (uhyve's rings, virtio-net over
virtio-mmio on QEMU microvm) against each loader's user-mode network.  Until the
network stack lands, the kernel's test-only selftest (drivers/net/selftest.c, app
net_selftest) sends ARP requests for the gateway through netdev_first() and counts
the replies; then these become the stack's tests."""

import re
import shutil
import socket
import subprocess

import pytest
from conftest import run

SELFTEST = "extra/tests/net_selftest"


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("count", [3, 300])
def test_arp_for_the_gateway(sdk, loader, count):
    """300 > the 256 slots of uhyve's rings and the 128 of virtio's queues: both wrap."""
    r = run(sdk, SELFTEST, str(count), env=dict(loader, HERMIT_VERBOSE="1"), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"net selftest: {count} of {count} answered\n"
    nic = "uhyve-net" if loader["HERMIT_ISLE"] == "uhyve" else "virtio-net"
    assert f"hermit: {nic} 52:54:00:12:34:56, MTU 1500" in r.stderr
    if nic == "virtio-net":
        assert "hermit: virtio-net over virtio-mmio" in r.stderr


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_virtio_net_pci(sdk, machine):
    """pc and q35 (TCG: with KVM on kvm_pvm their firmware alone takes seconds)."""
    env = {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0", "HERMIT_MACHINE": machine,
           "HERMIT_VERBOSE": "1"}
    r = run(sdk, SELFTEST, "300", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "net selftest: 300 of 300 answered\n"
    assert "hermit: virtio-net over virtio-pci" in r.stderr


def test_no_nic_when_switched_off(sdk, loader):
    r = run(sdk, SELFTEST, env=dict(loader, HERMIT_NET="0"))
    assert r.returncode == 2 and "No such device" in r.stderr


def test_capture_is_read_by_tcpdump(sdk, loader, tmp_path):
    r = run(sdk, SELFTEST, "2", env=dict(loader, HERMIT_CAPTURE_NET="1"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pcap = tmp_path / "hermit-net.pcap"
    assert pcap.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (apt-get install tcpdump): the header was checked")
    t = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
    assert t.stdout.count("Request who-has 10.0.2.2 tell 10.0.2.15") == 2
    assert t.stdout.count("Reply 10.0.2.2 is-at") == 2


def test_an_image_without_network_never_loads_libslirp(sdk, kvm_loader):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "uhyve",
                                           "HERMIT_LIBSLIRP": "libslirp-not-there.so.0"})
    assert r.returncode == 0, r.stderr


def test_libslirp_missing_is_one_line(sdk, kvm_loader):
    r = run(sdk, SELFTEST, env={"HERMIT_ISLE": "uhyve",
                                "HERMIT_LIBSLIRP": "libslirp-not-there.so.0"})
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
        r = run(sdk, SELFTEST, env=dict(loader, HERMIT_APP_PORT=f"{port}:80"))
    line = one_line(r)
    assert f"host port {port} (HERMIT_APP_PORT) is in use" in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_through_a_forwarded_port_reaches_the_guest(sdk, loader):
    """HERMIT_APP_PORT=H:7777: the host's connect to 127.0.0.1:H arrives in the guest as a
    SYN to its port 7777 (the selftest has no TCP: that it arrives is what is checked)."""
    from conftest import clean_env

    host = free_port()
    env = clean_env(**loader, HERMIT_APP_PORT=f"{host}:7777")
    p = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / SELFTEST), "1", "7777"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "net selftest: 1 of 1 answered\n"
        with socket.create_connection(("127.0.0.1", host), timeout=10):
            out, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, err
    assert out == "net selftest: SYN to port 7777\n"


def test_a_burst_costs_few_exits(sdk, loader):
    """200 frames queued at once: under uhyve the NIC thread finds them awake, so the
    kernel kicks it (a VM exit) only a few times, and receiving costs none."""
    r = run(sdk, SELFTEST, "200", "burst", env=dict(loader, HERMIT_VERBOSE="1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("net selftest: burst of 200, ")
    if loader["HERMIT_ISLE"] == "uhyve":
        line = next(x for x in r.stderr.splitlines() if x.startswith("uhyve: NIC: "))
        m = re.match(r"uhyve: NIC: (\d+) frames sent \((\d+) HC_NET_KICK", line)
        assert m, line
        sent, kicks = int(m[1]), int(m[2])
        assert sent == 200 and kicks <= 10, line


def test_a_long_burst_keeps_the_rings_whole(sdk, loader):
    """5000 frames each way, the rings' counters wrapping their slots ~20 times while
    both sides run (once, Python's byte-wise stores let the kernel see a counter half
    written: it ran past the loader's and never stopped)."""
    r = run(sdk, SELFTEST, "5000", "burst", env=dict(loader, HERMIT_TIMEOUT="60"))
    assert r.returncode == 0, r.stderr


def connect_env(loader: dict[str, str], ports: str | None) -> dict[str, str]:
    env = dict(loader)
    if ports is not None:  # QEMU opens the host's loopback whole or not at all
        env["HERMIT_HOST_PORTS"] = ports if loader["HERMIT_ISLE"] == "uhyve" else "all"
    return env


def test_host_loopback_only_on_listed_ports(sdk, loader):
    """The guest's SYN to 10.0.2.2:P reaches a host service on 127.0.0.1:P only when P
    is listed (uhyve: HERMIT_HOST_PORTS=P; QEMU: only all or nothing)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        closed = run(sdk, SELFTEST, "1", "connect", port, env=connect_env(loader, None))
        opened = run(sdk, SELFTEST, "1", "connect", port, env=connect_env(loader, port))
        if loader["HERMIT_ISLE"] == "uhyve":
            other = run(sdk, SELFTEST, "1", "connect", port,
                        env=connect_env(loader, str(free_port())))
            assert other.stdout == f"net selftest: no SYN-ACK from 10.0.2.2:{port}\n"
    assert closed.stdout == f"net selftest: no SYN-ACK from 10.0.2.2:{port}\n"
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == f"net selftest: SYN-ACK from 10.0.2.2:{port}\n"


def test_two_guests_through_a_forwarded_port(sdk, loader):
    """Guest A forwards host port H to its port 7777; guest B, allowed to reach H on the
    host's loopback, connects to 10.0.2.2:H: B gets its SYN-ACK, A sees the SYN."""
    from conftest import clean_env

    host = free_port()
    a = subprocess.Popen([str(sdk / "bin/proxy"), str(sdk / SELFTEST), "1", "7777"],
                         env=clean_env(**loader, HERMIT_APP_PORT=f"{host}:7777"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert a.stdout.readline() == "net selftest: 1 of 1 answered\n"
        b = run(sdk, SELFTEST, "1", "connect", str(host), env=connect_env(loader, str(host)))
        out, err = a.communicate(timeout=60)
    finally:
        a.kill()
        a.wait()
    assert b.returncode == 0, b.stderr
    assert b.stdout == f"net selftest: SYN-ACK from 10.0.2.2:{host}\n"
    assert a.returncode == 0, err
    assert out == "net selftest: SYN to port 7777\n"
