"""uhyve's NIC on the host (hermit_build/net): the rings, libslirp, forwards, the
host-port filter and captures, driven by a stand-in kernel (netframes.Guest) without
a VM; the guest's side under every loader is test_net_guest.py."""

import ctypes.util
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from netframes import (
    GATEWAY,
    GUEST_IP,
    HEAD,
    TX,
    Guest,
    arp_request,
    checksum,
    dhcp_discover,
    ipv4,
    tcp_syn,
)

from hermit_build.abi import C
from hermit_build.config import ConfigError
from hermit_build.net import hostfilter, options
from hermit_build.net.nic import MAC, Nic
from hermit_build.net.pcap import Capture

pytestmark = pytest.mark.skipif(ctypes.util.find_library("slirp") is None,
                                reason="libslirp0 is not installed (tools/install-deps)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["compiled", "python"])
def guest(request, monkeypatch):
    """The stand-in kernel, its NIC served by the compiled loop (pyext/netpump.c, the
    SDK's module) or by nic.py's own (HERMIT_NIC_PUMP=python)."""
    if request.param == "python":
        monkeypatch.setenv("HERMIT_NIC_PUMP", "python")
    else:
        sdk = os.environ.get("HERMIT_SDK")
        if not sdk:
            pytest.skip("HERMIT_SDK is not set: the compiled loop is the SDK's")
        monkeypatch.syspath_prepend(os.path.join(sdk, "lib/hermit/python"))
    g = Guest()
    woken = []
    nics = []

    def make(**kw):
        nic = Nic(g.mem, lambda: woken.append(1), **kw)
        nics.append(nic)
        return nic

    g.make, g.woken, g.loop = make, woken, request.param
    yield g
    for n in nics:
        n.close()


def is_arp_reply(f: bytes) -> bool:
    return f[12:14] == b"\x08\x06" and f[21] == 2 and f[28:32] == GATEWAY and f[38:42] == GUEST_IP


def test_open_answers_mac_and_mtu(guest):
    nic = guest.make()
    a = guest.open(nic)
    assert a["ret"] == 0 and a["mtu"] == 1500
    assert a["mac"].to_bytes(6, "little") == MAC
    assert guest.open(nic)["ret"] != 0  # once


def test_the_loop_is_the_one_asked_for(guest):
    nic = guest.make()
    guest.open(nic)
    assert (nic.pump is not None) == (guest.loop == "compiled")
    guest.send(nic, arp_request())
    assert guest.wait_for(is_arp_reply) is not None
    sent, received = map(int, re.search(r"(\d+) frames sent .* (\d+) received",
                                        nic.summary()).groups())
    assert sent >= 1 and received >= 1, nic.summary()


def test_open_refuses_rings_outside_memory(guest):
    nic = guest.make()
    guest.mem.write(0x1000, struct.pack("<5Q", 0x7FF000, 0x100000, 0, 0, 0))
    nic.open(0x1000)
    assert guest.mem.read_u64(0x1000 + 32) == (-14) & (2**64 - 1)  # -EFAULT
    assert nic.thread is None


def test_arp_for_the_gateway_is_answered(guest):
    nic = guest.make()
    guest.open(nic)
    guest.send(nic, arp_request())
    reply = guest.wait_for(is_arp_reply)
    assert reply is not None and reply[0:6] == MAC


def test_many_frames_wrap_the_rings(guest):
    """More frames than a ring holds, up to 128 requests in flight: none lost (with more
    in flight than rx holds, the NIC drops what does not fit, as a NIC does)."""
    nic = guest.make()
    guest.open(nic)
    answered, end = 0, time.monotonic() + 20
    for sent in range(600):
        while sent - answered >= 128 and time.monotonic() < end:
            answered += sum(map(is_arp_reply, guest.frames()))
        guest.send(nic, arp_request())
    while answered < 600 and time.monotonic() < end:
        answered += sum(map(is_arp_reply, guest.frames()))
    assert (answered, nic.dropped) == (600, 0)


def test_dhcp_offer(guest):
    nic = guest.make()
    guest.open(nic)
    guest.send(nic, dhcp_discover(0xBEEF))

    def offer(f: bytes) -> bool:
        return (f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x00\x44"
                and f[46:50] == b"\x00\x00\xbe\xef" and b"\x35\x01\x02" in f[282:])

    f = guest.wait_for(offer)
    assert f is not None
    assert f[58:62] == GUEST_IP  # yiaddr


def test_forwarded_port_reaches_the_guest(guest):
    host = free_port()
    nic = guest.make(forwards=[(host, 8080)])
    guest.open(nic)
    guest.send(nic, arp_request())  # slirp learns the guest's MAC
    assert guest.wait_for(is_arp_reply)
    c = socket.create_connection(("127.0.0.1", host), timeout=5)
    try:
        def syn(f: bytes) -> bool:
            return (f[12:14] == b"\x08\x00" and f[23] == 6 and f[30:34] == GUEST_IP
                    and f[36:38] == (8080).to_bytes(2, "big") and f[47] & 0x02)

        assert guest.wait_for(syn) is not None
    finally:
        c.close()


def test_forward_of_a_port_in_use_is_one_line(guest):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"host port {port} .* is in use"):
            options.check_forwards_free([(port, 80)])
        nic = guest.make(forwards=[(port, 80)])
        with pytest.raises(Exception, match=f"host port {port} .* is in use"):
            guest.open(nic)


@pytest.mark.parametrize("text,want", [
    ("8080", [(8080, 8080)]), ("8080:80", [(8080, 80)]),
    (" 80:8080 , 2222:22,", [(80, 8080), (2222, 22)]),
])
def test_app_port_forms(text, want):
    assert options.parse_forwards(text) == want


@pytest.mark.parametrize("text", ["", "x", "0", "65536", "8080:", "1:2:3", "80,80", "-5", "８０"])
def test_malformed_app_port(text):
    with pytest.raises(ConfigError, match="HERMIT_APP_PORT="):
        options.parse_forwards(text)


def test_host_ports_filter():
    ssh, db = tcp_syn(22), tcp_syn(5432)
    assert not hostfilter.allowed(ssh, frozenset({5432}))
    assert hostfilter.allowed(db, frozenset({5432}))
    assert hostfilter.allowed(ssh, "all")
    assert hostfilter.allowed(arp_request(), frozenset())
    assert not hostfilter.allowed(ssh[:36], frozenset({22}))  # no ports: never
    assert options.parse_host_ports("all") == "all"
    assert options.parse_host_ports("5432, 6379") == {5432, 6379}


def test_host_loopback_only_on_listed_ports(guest):
    """A host service on a port not listed never sees the guest's SYN; a listed one does."""
    with socket.socket() as listed, socket.socket() as other:
        for s in (listed, other):
            s.bind(("127.0.0.1", 0))
            s.listen()
            s.settimeout(3)
        nic = guest.make(host_ports=frozenset({listed.getsockname()[1]}))
        guest.open(nic)
        guest.send(nic, tcp_syn(other.getsockname()[1]))
        guest.send(nic, tcp_syn(listed.getsockname()[1], sport=40001))
        conn, _ = listed.accept()  # slirp connected on the guest's behalf
        conn.close()
        with pytest.raises(TimeoutError):
            other.settimeout(0.5)
            other.accept()


def test_capture_is_a_pcap_tcpdump_reads(guest, tmp_path):
    path = tmp_path / "hermit-net.pcap"
    cap = Capture(str(path))
    nic = guest.make(capture=cap)
    guest.open(nic)
    guest.send(nic, arp_request())
    assert guest.wait_for(is_arp_reply)
    nic.close()
    cap.close()
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack_from("<I", data, 20)[0] == 1
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (apt-get install tcpdump): the header was checked")
    r = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Request who-has 10.0.2.2" in r.stdout and "Reply 10.0.2.2 is-at" in r.stdout


def test_libslirp_missing_is_one_line(guest, monkeypatch):
    from hermit_build.net import slirp

    monkeypatch.setattr(slirp, "_lib", None)
    monkeypatch.setenv("HERMIT_LIBSLIRP", "libslirp-not-there.so.0")
    nic = guest.make()
    with pytest.raises(slirp.SlirpMissing, match="install libslirp0"):
        guest.open(nic)
    monkeypatch.setattr(slirp, "_lib", None)


def _qemu_cmd(**settings) -> list[str]:
    from hermit_build.config import RunConfig
    from hermit_build.qemu.command import build_command

    return build_command(RunConfig("/x.elf", ["/x.elf"], isle="qemu", **settings), kvm=False)


def test_qemu_netdev_user_with_forwards_and_capture():
    cmd = " ".join(_qemu_cmd(forwards=[(8080, 80), (2222, 22)], capture_net=True))
    assert ("-netdev user,id=net0,net=10.0.2.0/24,host=10.0.2.2,dhcpstart=10.0.2.15,"
            "dns=10.0.2.3,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80,"
            "hostfwd=tcp:127.0.0.1:2222-:22") in cmd
    assert "-device virtio-net-device,netdev=net0,mac=52:54:00:12:34:56" in cmd
    assert "virtio-mmio.force-legacy=false" in cmd
    assert "filter-dump,id=capture,netdev=net0,file=hermit-net.pcap" in cmd
    assert "restrict=off" in " ".join(_qemu_cmd(host_ports="all"))
    assert "-netdev" not in _qemu_cmd(net=False)


def test_qemu_refuses_what_it_cannot_do_and_pci_machines():
    from hermit_build.qemu.command import QemuError

    with pytest.raises(QemuError, match="cannot open the host's loopback port by port"):
        _qemu_cmd(host_ports=frozenset({5432}))
    pci = " ".join(_qemu_cmd(machine="q35", forwards=[(8080, 8080)]))
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,disable-legacy=on,romfile=" in pci


@pytest.mark.parametrize("rx,tx", [
    (0x10000, 0x10000),          # the same ring twice
    (0x10000, 0x10000 + 4096),   # overlapping
    (0x10800, 0x100000),         # not page-aligned
    (2 << 20, 0x100000),         # past the end of guest memory
    ((1 << 64) - 4096, 0x100000),
])
def test_hostile_rings_are_refused(guest, rx, tx):
    nic = guest.make()
    guest.mem.write(0x1000, struct.pack("<5Q", rx, tx, 0, 0, 0))
    nic.open(0x1000)
    assert guest.mem.read_u64(0x1000 + 32) == (-14) & (2**64 - 1)  # -EFAULT, no thread
    assert nic.thread is None
    nic.kick()  # a kick before any NIC is harmless


def test_hostile_counters_and_lengths_drop_frames(guest):
    """A tx head far ahead of tail, then a length past NET_FRAME_MAX: dropped, the NIC
    goes on (an ARP request after them is still answered)."""
    from netframes import TX

    nic = guest.make()
    guest.open(nic)
    guest.set_u64(TX, 10_000)  # head: 10,000 frames queued in a ring of 256
    nic.kick()
    time.sleep(0.2)
    assert nic.dropped == 1 and guest.u64(TX + 8) == 10_000  # tail resynced
    at = TX + 4096 + 10_000 % 256 * 2048
    guest.mem.write(at, struct.pack("<Q", 1 << 40))
    guest.set_u64(TX, 10_001)
    nic.kick()
    guest.send(nic, arp_request())
    assert guest.wait_for(is_arp_reply) is not None
    assert nic.dropped == 2 and nic.error is None


def test_hermit_run_publish_flag(tmp_path):
    r = subprocess.run([sys.executable, "-c", "import sys; from hermit_build.cli import main;"
                        " sys.exit(main())", "run", "-p", "8080:", "/nonexistent"],
                       capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("hermit: -p '8080:' is not a list of TCP ports; use e.g. "
                                "-p 8080 or -p 8080:80,2222:22 (host:guest, 1-65535)")


def test_net_open_through_the_host_services():
    """HC_NET_OPEN where the loader offers no NIC (QEMU's runner) is -ENODEV; with one
    (uhyve), an argument struct outside RAM ends the VM (GuestError) and a kick before
    any NIC is nothing."""
    from hermit_build.abi import HC, S, signed
    from hermit_build.hostcalls import GuestError, HostServices

    g = Guest()
    with HostServices(g.mem, ["prog"], []) as hs:
        g.mem.write(0x1000, S.hc_net.pack(rx=0x10000, tx=0x100000))
        hs.handle(HC.NET_OPEN, 0x1000)
        assert signed(g.mem.read_u64(0x1000 + S.hc_net.offset["ret"])) == -19  # ENODEV
        hs.handle(HC.NET_KICK, 0x1000)
        hs.nic_factory = lambda: Nic(g.mem, lambda: None)
        with pytest.raises(GuestError, match="outside guest memory"):
            hs.handle(HC.NET_OPEN, (2 << 20) - 8)
        hs.handle(HC.NET_OPEN, 0x1000)
        assert g.mem.read_u64(0x1000 + S.hc_net.offset["ret"]) == 0
        assert hs.nic.thread.is_alive()
    assert not hs.nic.thread.is_alive()  # the services' end stops the NIC


# --- the tap device's framing (IFF_VNET_HDR), with a socketpair standing in for it ------------

HOST_IP = bytes((10, 0, 5, 1))


def tap_guest(guest):
    """The stand-in kernel's NIC on a stand-in tap device: (the device's other end)."""
    from hermit_build.net.tap import TapNet

    dev, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    fd = ours.detach()
    nic = guest.make(backend=lambda send: TapNet(send, fd), tap_fd=fd)
    assert guest.open(nic)["ret"] == 0
    assert (nic.pump is not None) == (guest.loop == "compiled")
    dev.settimeout(5)
    return nic, dev


def tcp_frame(payload: bytes, seq: int = 1000, flags: int = 0x19) -> bytes:
    """Host to guest, one TCP segment (FIN, PSH, ACK): checksums left to the device."""
    seg = struct.pack("!HHIIBBHHH", 7, 40000, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload
    return ipv4(HOST_IP, GUEST_IP, 6, seg, MAC)


def vnet(flags: int = 0, gso: int = 0, gso_size: int = 0, start: int = 0, at: int = 0) -> bytes:
    return struct.pack("<BBHHHH", flags, gso, 54, gso_size, start, at)


def sound_tcp(f: bytes) -> tuple[int, int, bytes]:
    """(seq, flags, payload) of a frame whose IP and TCP checksums hold."""
    ip, tcp = f[14:34], f[34:]
    assert checksum(ip) == 0, f.hex()
    assert struct.unpack("!H", ip[2:4])[0] == 20 + len(tcp)
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
    assert checksum(pseudo + tcp) == 0, f.hex()
    return struct.unpack("!I", tcp[4:8])[0], tcp[13], tcp[20:]


def test_a_large_segment_from_the_host_is_cut_to_the_mtu(guest):
    """64 KiB TCP segments (TUN_F_TSO4): 5,000 bytes with an MSS of 1,448 reach the
    guest as four segments, each with its own checksums and sequence number, FIN and
    PSH on the last only; nic.py's loop never asks for them and drops one."""
    nic, dev = tap_guest(guest)
    payload = bytes(range(256)) * 19 + bytes(136)  # 5,000 bytes
    dev.send(vnet(1, 1, 1448, 34, 16) + tcp_frame(payload))
    if guest.loop == "python":
        time.sleep(0.3)
        assert guest.frames() == [] and nic.backend.dropped == 1
        return
    got = []
    end = time.monotonic() + 5
    while len(got) < 4 and time.monotonic() < end:
        got += guest.frames()
        time.sleep(0.005)
    segs = [sound_tcp(f) for f in got]
    assert [s for s, _, _ in segs] == [1000, 2448, 3896, 5344]
    assert [fl for _, fl, _ in segs] == [0x10, 0x10, 0x10, 0x19]
    assert b"".join(p for _, _, p in segs) == payload
    assert len({f[18:20] for f in got}) == 4  # IP ids differ


def test_a_checksum_left_to_the_device_is_filled_in(guest):
    """TUN_F_CSUM: the TCP checksum field holds the pseudo-header's sum only."""
    nic, dev = tap_guest(guest)
    frame = bytearray(tcp_frame(b"hello, guest"))
    tcp_len = len(frame) - 34
    pseudo = HOST_IP + GUEST_IP + struct.pack("!BBH", 0, 6, tcp_len)
    frame[50:52] = struct.pack("!H", ~checksum(pseudo) & 0xFFFF)  # the partial sum
    dev.send(vnet(1, 0, 0, 34, 16) + bytes(frame))
    f = guest.wait_for(lambda f: f[23] == 6)
    assert f is not None and sound_tcp(f)[2] == b"hello, guest"


def test_the_guests_frames_reach_the_device_with_a_plain_header(guest):
    nic, dev = tap_guest(guest)
    guest.send(nic, arp_request(HOST_IP))
    got = dev.recv(4096)
    assert got == bytes(10) + arp_request(HOST_IP)


def guest_tcp(payload: bytes, seq: int, flags: int = 0x10) -> bytes:
    """Guest to host, one TCP segment with its checksums, as lwIP sends it."""
    seg = struct.pack("!HHIIBBHHH", 40000, 7, seq, 1, 5 << 4, flags, 8192, 0, 0) + payload
    pseudo = GUEST_IP + HOST_IP + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", checksum(pseudo + seg)) + seg[18:]
    return ipv4(GUEST_IP, HOST_IP, 6, seg, MAC)


def test_the_guests_segments_go_out_merged(guest, monkeypatch):
    """With the device's offloads on, consecutive segments of one stream that the guest
    queued together leave as one TCPv4 GSO frame (the host's stack cuts it again if it
    must); a segment out of sequence starts a new run."""
    if guest.loop == "python":
        pytest.skip("nic.py's loop writes frame by frame")
    monkeypatch.setattr("hermit_build.net.tap.offload", lambda fd, on: True)
    nic, dev = tap_guest(guest)
    data = bytes(range(256)) * 17  # 4,352 bytes: 1448 + 1448 + 1448 + 8
    frames = [guest_tcp(data[i:i + 1448], 5000 + i, 0x18 if i + 1448 >= len(data) else 0x10)
              for i in range(0, len(data), 1448)]
    frames.append(guest_tcp(b"late", 99999))
    head = guest.u64(TX + HEAD)  # all queued at once: the loop sees them in one look
    for i, f in enumerate(frames):
        at = TX + C.NET_RING_SLOTS + (head + i) % C.NET_SLOTS * C.NET_SLOT_SIZE
        guest.mem.write(at, struct.pack("<Q", len(f)) + f)
    guest.set_u64(TX + HEAD, head + len(frames))
    nic.kick()
    merged, late = dev.recv(70000), dev.recv(70000)
    flags, gso, hl, size, start, at = struct.unpack_from("<BBHHHH", merged)
    assert (flags, gso, hl, size, start, at) == (1, 1, 54, 1448, 34, 16)
    f = merged[10:]
    assert f[54:] == data and checksum(f[14:34]) == 0
    assert struct.unpack("!H", f[16:18])[0] == 40 + len(data)
    assert f[47] == 0x18  # the last one's PSH
    pseudo = GUEST_IP + HOST_IP + struct.pack("!BBH", 0, 6, 20 + len(data))
    assert struct.unpack("!H", f[50:52])[0] == ~checksum(pseudo) & 0xFFFF  # left to the host
    assert late == bytes(10) + frames[-1]  # alone: as it came
