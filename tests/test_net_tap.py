"""The tap backend (issue 12, host side, for root): HERMIT_NETIF with a static address
under uhyve, QEMU+KVM and QEMU/TCG.  Traffic stays inside a network namespace each test
creates (a tap device with the host's address in it, the loader started there with `ip
netns exec`) and deletes, even on failure: curl from the host to the guest's HTTP
server, the guest as a TCP and UDP client of a host server, its name server, a capture,
and the bad inputs, each one line."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import ROOT, clean_env, run

sys.path.insert(0, str(ROOT))
from hermit_build.net import tap as tapmod  # noqa: E402

ECHO = "extra/tests/net_echo"
HOST, GUEST = "10.0.5.1", "10.0.5.2"
GUEST_MAC = "52:54:0a:00:05:02"  # 52:54 and the guest's address (net/tap.py)
RUN_TIMEOUT = 120


def root_problem() -> str | None:
    if os.geteuid() != 0:
        return "tap devices and network namespaces need root"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    if not os.path.exists(tapmod.TUN):
        return f"{tapmod.TUN} does not exist (no tun/tap in this kernel)"
    return None


needs_root = pytest.mark.skipif(root_problem() is not None, reason=str(root_problem()))


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


class Netns:
    """A network namespace of this test alone, with `lo` and tap0 (HOST/24) up."""

    count = 0

    def __init__(self):
        Netns.count += 1
        self.name = f"hermit-tap-{os.getpid()}-{Netns.count}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            for cmd in ("ip link set lo up", "ip tuntap add dev tap0 mode tap",
                        f"ip addr add {HOST}/24 dev tap0", "ip link set tap0 up"):
                self.run(*cmd.split(), check=True)
        except BaseException:
            self.delete()
            raise

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(self, *cmd: str, check: bool = False, timeout: float = RUN_TIMEOUT,
            env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*cmd), check=check, capture_output=True, text=True,
                              timeout=timeout, env=env or clean_env(), cwd=cwd)

    def popen(self, *cmd: str, env: dict[str, str] | None = None, cwd=None):
        return subprocess.Popen(self.argv(*cmd), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env or clean_env(),
                                cwd=cwd)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)


@pytest.fixture
def netns():
    if root_problem():
        pytest.skip(root_problem())
    ns = Netns()
    yield ns
    ns.delete()


def stop(p: subprocess.Popen) -> tuple[str, str]:
    """End a guest (SIGTERM: the proxy says "terminated"), by force if it hangs."""
    p.terminate()
    try:
        return p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate()


def tap_env(loader: dict[str, str], **extra: str) -> dict[str, str]:
    return clean_env(**dict(dict(loader, HERMIT_NETIF="tap0", HERMIT_IP=GUEST,
                                 HERMIT_VERBOSE="1", HERMIT_TIMEOUT="60"), **extra))


def proxy(sdk, app: str, *args: str) -> list[str]:
    return [str(sdk / "bin/proxy"), str(sdk / app), *args]


@pytest.fixture
def host_servers(netns):
    p = netns.popen(sys.executable, str(ROOT / "tests/netns_servers.py"), HOST)
    try:
        assert p.stdout.readline() == "ready\n", p.stderr.read()
        yield netns
    finally:
        p.kill()
        p.wait()


@needs_root
def test_curl_reaches_the_guest_server_at_its_address(sdk, loader, netns, tmp_path):
    p = netns.popen(*proxy(sdk, "extra/tests/server", "8080"), env=tap_env(
        loader, HERMIT_CAPTURE_NET="1"), cwd=tmp_path)
    try:
        line = p.stdout.readline()
        assert line == "server: listening on 0.0.0.0:8080\n", line + p.stderr.read()
        t = time.monotonic()
        c = netns.run("curl", "-sS", "--max-time", "30", f"http://{GUEST}:8080/hello")
        assert c.returncode == 0 and c.stdout == "Hello from hermit\n", c.stderr
        print(f"first request answered in {time.monotonic() - t:.2f} s")
    finally:
        _, err = stop(p)
    nic = "uhyve-net" if loader["HERMIT_ISLE"] == "uhyve" else "virtio-net"
    assert f"hermit: {nic} {GUEST_MAC}, MTU 1500" in err, err
    assert "DHCP" not in err, err
    pcap = tmp_path / "hermit-net.pcap"  # HERMIT_CAPTURE_NET works with tap
    assert pcap.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    if shutil.which("tcpdump"):
        t = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True)
        assert re.search(rf"{HOST}\.\d+ > {GUEST}\.8080: Flags \[S\]", t.stdout), t.stdout


@needs_root
def test_guest_is_a_tcp_client_of_a_host_server(sdk, loader, host_servers):
    r = host_servers.run(*proxy(sdk, ECHO, "connect", HOST, "7", str(1 << 20)),
                         env=tap_env(loader))
    assert r.returncode == 0 and r.stdout == f"echoed {1 << 20}\n", r.stdout + r.stderr


@needs_root
def test_uhyve_tap_loops_move_the_same_bytes(sdk, kvm_loader, host_servers):
    """uhyve's NIC loop behind a tap device: pyext/netpump.c's (the default: the host
    hands it 64 KiB TCP segments, which it cuts) and then, on the same device, nic.py's
    reference (HERMIT_NIC_PUMP=python: whole frames, though the guest before turned the
    device's offloads on) echo 8 MiB alike."""
    for extra in ({}, {"HERMIT_NIC_PUMP": "python"}):
        r = host_servers.run(*proxy(sdk, ECHO, "connect", HOST, "7", str(8 << 20)),
                             env=tap_env({"HERMIT_ISLE": "uhyve"}, **extra))
        assert r.returncode == 0 and r.stdout == f"echoed {8 << 20}\n", r.stdout + r.stderr
        assert re.search(r"uhyve: NIC: [1-9]\d{3,} frames sent", r.stderr), r.stderr


@needs_root
def test_guest_udp_echo_and_its_name_server(sdk, loader, host_servers, tmp_path):
    env = tap_env(loader, HERMIT_DNS=HOST)
    r = host_servers.run(*proxy(sdk, ECHO, "udp", HOST, "7"), env=env)
    assert r.returncode == 0 and r.stdout == "udp echoed\n", r.stdout + r.stderr
    r = host_servers.run(*proxy(sdk, ECHO, "resolve", "db.cluster.test"), env=env)
    assert r.returncode == 0 and r.stdout == "db.cluster.test 10.0.5.77\n", r.stdout + r.stderr


@needs_root
def test_two_guests_on_a_bridge(sdk, loader, netns):
    """The basis for MPI across guests: two taps on one bridge, distinct MACs (from
    their addresses), one guest serving, the other connecting."""
    for cmd in ("ip link add br0 type bridge", "ip link set br0 up", "ip link set tap0 "
                "master br0", "ip tuntap add dev tap1 mode tap", "ip link set tap1 master br0",
                "ip link set tap1 up"):
        netns.run(*cmd.split(), check=True)
    server = netns.popen(*proxy(sdk, ECHO, "serve", "7777"), env=tap_env(loader))
    try:
        assert server.stdout.readline() == "listening 7777\n", server.stderr.read()
        r = netns.run(*proxy(sdk, ECHO, "connect", GUEST, "7777", str(256 << 10)),
                      env=tap_env(loader, HERMIT_NETIF="tap1", HERMIT_IP="10.0.5.3"))
        assert r.returncode == 0 and r.stdout == f"echoed {256 << 10}\n", r.stdout + r.stderr
        assert "52:54:0a:00:05:03" in r.stderr, r.stderr
        out, err = server.communicate(timeout=30)
        assert server.returncode == 0 and out == "served 1\n", err
    finally:
        server.kill()
        server.wait()


@needs_root
def test_resolv_conf_names_the_dns_server(sdk, netns, tmp_path):
    env = tap_env({"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0"}, HERMIT_DNS="192.0.2.53",
                  HERMIT_GATEWAY="10.0.5.254", HERMIT_MASK="255.255.255.0")
    r = netns.run(*proxy(sdk, "extra/tests/cat", "/etc/resolv.conf"), env=env)
    assert r.returncode == 0 and "\nnameserver 192.0.2.53\n" in r.stdout, r.stdout + r.stderr


@needs_root
def test_vhost_net_where_the_host_offers_it(sdk, netns):
    if not tapmod.vhost_usable():
        pytest.skip(f"{tapmod.VHOST_NET} is missing or not usable on this host (no vhost_net "
                    f"module): QEMU's tap runs without vhost here")
    p = netns.popen(*proxy(sdk, "extra/tests/server", "8080"),
                    env=tap_env({"HERMIT_ISLE": "qemu", "HERMIT_KVM": "1"}))
    try:
        assert p.stdout.readline() == "server: listening on 0.0.0.0:8080\n", p.stderr.read()
        c = netns.run("curl", "-sS", "--max-time", "30", f"http://{GUEST}:8080/hello")
        assert c.stdout == "Hello from hermit\n", c.stderr
    finally:
        stop(p)


# -- bad inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("var,value", [
    ("HERMIT_IP", "10.0.5"), ("HERMIT_IP", "10.0.5.256"), ("HERMIT_GATEWAY", "gw"),
    ("HERMIT_MASK", "255.0.255.0"), ("HERMIT_DNS", "1.2.3.4.5")])
def test_malformed_address_is_one_line(sdk, var, value):
    env = {"HERMIT_ISLE": "qemu", "HERMIT_NETIF": "tap0", "HERMIT_IP": GUEST, var: value}
    line = one_line(run(sdk, "extra/tests/hello", env=env))
    assert line.startswith(f"proxy: {var}={value!r} is not"), line
    assert "e.g." in line


@pytest.mark.parametrize("env,said", [
    ({"HERMIT_NETIF": "tap0"}, "needs the guest's address on that network: set HERMIT_IP"),
    ({"HERMIT_IP": GUEST}, "needs HERMIT_NETIF=tapX"),
    ({"HERMIT_NETIF": "tap0", "HERMIT_IP": "10.0.5.0"}, "is not a host address"),
    ({"HERMIT_NETIF": "tap0", "HERMIT_IP": GUEST, "HERMIT_GATEWAY": "10.0.6.1"},
     "is not another host of the guest's network 10.0.5.0/24"),
    ({"HERMIT_NETIF": "tap0", "HERMIT_IP": GUEST, "HERMIT_APP_PORT": "8080"},
     f"HERMIT_APP_PORT is for the user-mode network, but HERMIT_NETIF=tap0 gives the "
     f"guest its own address: reach it at {GUEST}"),
])
def test_inconsistent_settings_are_one_line(sdk, env, said):
    line = one_line(run(sdk, "extra/tests/hello", env=dict(env, HERMIT_ISLE="qemu")))
    assert said in line, line


def test_flags_are_named_in_the_message(sdk):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--netif", "tap0", "--ip", "10.0.5",
                        str(sdk / "extra/tests/hello")], capture_output=True, text=True,
                       env=clean_env(), timeout=RUN_TIMEOUT)
    assert one_line(r) == ("hermit: --ip='10.0.5' is not an IPv4 address; use a dotted "
                           "quad, e.g. --ip=10.0.5.2"), r.stderr


@needs_root
@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_missing_device_is_one_line(sdk, netns, isle):
    r = netns.run(*proxy(sdk, "extra/tests/hello"),
                  env=clean_env(HERMIT_ISLE=isle, HERMIT_NETIF="tap9", HERMIT_IP=GUEST))
    assert one_line(r) == ("proxy: HERMIT_NETIF=tap9: no such network device; create it "
                           "(as root): ip tuntap add dev tap9 mode tap && ip link set tap9 "
                           "up"), r.stderr


@needs_root
def test_a_device_that_is_down_is_a_notice(sdk, netns):
    netns.run(*"ip link set tap0 down".split(), check=True)
    r = netns.run(*proxy(sdk, "extra/tests/hello"),
                  env=clean_env(HERMIT_NETIF="tap0", HERMIT_IP=GUEST))
    assert r.returncode == 0 and r.stderr == ("proxy: HERMIT_NETIF=tap0 is down: the guest "
                                              "reaches nothing until `ip link set tap0 "
                                              "up`\n"), r.stderr


@needs_root
def test_not_a_tap_device_is_one_line(sdk, netns):
    r = netns.run(*proxy(sdk, "extra/tests/hello"),
                  env=clean_env(HERMIT_NETIF="lo", HERMIT_IP=GUEST))
    assert "HERMIT_NETIF=lo is not a tap device" in one_line(r)


@needs_root
def test_device_in_use_is_one_line(sdk, netns):
    # attach to tap0 from inside the namespace, then start a guest on it
    hold = netns.popen(sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from hermit_build.net.tap import open_device
        fd = open_device("tap0")
        print("held", flush=True)
        time.sleep(600)
    """).replace("import sys", "import sys, time"))
    try:
        assert hold.stdout.readline() == "held\n", hold.stderr.read()
        r = netns.run(*proxy(sdk, "extra/tests/hello"),
                      env=clean_env(HERMIT_NETIF="tap0", HERMIT_IP=GUEST))
    finally:
        hold.kill()
        hold.wait()
    assert "HERMIT_NETIF=tap0 is in use by another process" in one_line(r)


@needs_root
def test_no_permission_is_one_line(sdk, netns):
    """Root without CAP_NET_ADMIN may open /dev/net/tun, not attach to a device another
    user owns; a user who may not open /dev/net/tun (mode 0600) is told so first."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) is not installed")
    netns.run(*"ip tuntap add dev tap1 mode tap user 65534".split(), check=True)
    env = clean_env(HERMIT_NETIF="tap1", HERMIT_IP=GUEST, HERMIT_ISLE="qemu")
    r = netns.run(setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin",
                  *proxy(sdk, "extra/tests/hello"), env=env)
    assert one_line(r) == ("proxy: HERMIT_NETIF=tap1: no permission to attach to it: run "
                           "as root, or make it yours (ip tuntap add dev tap1 mode tap user "
                           "$USER)"), r.stderr
    if os.stat(tapmod.TUN).st_mode & 0o006:
        return  # this host lets everyone open it
    r = netns.run(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                  *proxy(sdk, "extra/tests/hello"), env=env)
    line = one_line(r)
    assert line.startswith(f"proxy: HERMIT_NETIF=tap1: cannot open {tapmod.TUN} "), line


# -- units (no root) ---------------------------------------------------------------------


def test_defaults_gateway_mac_and_boot_info():
    t = tapmod.from_settings({"HERMIT_NETIF": "tap0", "HERMIT_IP": "192.168.7.20",
                              "HERMIT_DNS": "192.168.7.1"})
    assert (str(t.mask), str(t.gateway), str(t.dns)) == ("255.255.255.0", "192.168.7.1",
                                                         "192.168.7.1")
    assert t.mac_text == "52:54:c0:a8:07:14"
    assert t.boot_info() == {"net_ip": 0x1407A8C0, "net_mask": 0x00FFFFFF,
                             "net_gw": 0x0107A8C0}
    assert t.resolv_conf().endswith(b"\nnameserver 192.168.7.1\n")


def test_dns_from_the_host_skips_loopback(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# x\nnameserver 127.0.0.53\nnameserver fe80::1\nnameserver 10.9.8.7\n")
    assert str(tapmod._host_dns(str(conf))) == "10.9.8.7"
    conf.write_text("nameserver 127.0.0.53\n")
    assert tapmod._host_dns(str(conf)) is None


@pytest.mark.parametrize("vhost", [False, True])
def test_qemu_netdev_tap(monkeypatch, vhost):
    from hermit_build.config import RunConfig
    from hermit_build.qemu.command import build_command

    monkeypatch.setattr(tapmod, "vhost_usable", lambda: vhost)
    cfg = RunConfig("img", ["img"], tap=tapmod.from_settings(
        {"HERMIT_NETIF": "tap3", "HERMIT_IP": GUEST}), capture_net=True)
    cmd = " ".join(build_command(cfg, kvm=False))
    want = "tap,id=net0,ifname=tap3,script=no,downscript=no" + (",vhost=on" if vhost else "")
    assert want + ",vnet_hdr=off " in cmd, cmd  # a capture without virtio-net's header
    assert "vnet_hdr" not in " ".join(build_command(cfg.__class__(
        "img", ["img"], tap=cfg.tap), kvm=False))
    assert f"mac={GUEST_MAC}" in cmd and "filter-dump,id=capture,netdev=net0" in cmd
    assert "hermit.ip=33882122 hermit.mask=16777215 hermit.gw=17104906" in cmd, cmd
