"""Frames and a stand-in kernel for the NIC tests: what drivers/net/uhyve_net.c does
to the rings, in Python, against guest memory in a bytearray."""

import struct
import time

from hermit_build.abi import C, S
from hermit_build.guestmem import GuestMemory
from hermit_build.net.nic import MAC

GUEST_IP, GATEWAY = bytes((10, 0, 2, 15)), bytes((10, 0, 2, 2))
BROADCAST = b"\xff" * 6
RX, TX, HC = 0x10000, 0x100000, 0x1000
_U64 = struct.Struct("<Q")
HEAD, TAIL, WAIT = (S.net_ring.offset[f] for f in ("head", "tail", "wait"))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def arp_request(target: bytes = GATEWAY) -> bytes:
    return (BROADCAST + MAC + b"\x08\x06" + bytes((0, 1, 8, 0, 6, 4, 0, 1)) + MAC + GUEST_IP
            + bytes(6) + target)


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, dst_mac: bytes) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return dst_mac + MAC + b"\x08\x00" + hdr + payload


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def dhcp_discover(xid: int = 0x1234) -> bytes:
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4),
                        bytes(4), bytes(4), bytes(4), MAC.ljust(16, b"\0"), b"", b"")
    options = b"\x63\x82\x53\x63" + b"\x35\x01\x01" + b"\xff"
    return ipv4(bytes(4), b"\xff" * 4, 17, udp(68, 67, bootp + options), BROADCAST)


def tcp_syn(dport: int, sport: int = 40000) -> bytes:
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = GUEST_IP + GATEWAY + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", checksum(pseudo + seg)) + seg[18:]
    return ipv4(GUEST_IP, GATEWAY, 6, seg, MAC)  # the gateway's MAC does not matter to slirp


class Guest:
    """The kernel's side of the rings."""

    def __init__(self):
        self.buf = bytearray(2 << 20)
        self.mem = GuestMemory([(0, len(self.buf), self.buf, 0)])

    def open(self, nic) -> dict[str, int]:
        self.mem.write(HC, S.hc_net.pack(rx=RX, tx=TX))
        nic.open(HC)
        return S.hc_net.unpack(self.mem.read(HC, S.hc_net.size))

    def u64(self, gpa: int) -> int:
        return memoryview(self.buf)[gpa : gpa + 8].cast("Q")[0]

    def set_u64(self, gpa: int, value: int) -> None:
        memoryview(self.buf)[gpa : gpa + 8].cast("Q")[0] = value  # one store, as the kernel
    def send(self, nic, frame: bytes) -> None:
        head = self.u64(TX + HEAD)
        at = TX + C.NET_RING_SLOTS + head % C.NET_SLOTS * C.NET_SLOT_SIZE
        self.mem.write(at, _U64.pack(len(frame)) + frame)
        self.set_u64(TX + HEAD, head + 1)
        if self.u64(TX + WAIT):
            self.set_u64(TX + WAIT, 0)
            nic.kick()

    def frames(self) -> list[bytes]:
        out = []
        tail, head = self.u64(RX + TAIL), self.u64(RX + HEAD)
        while tail != head:
            at = RX + C.NET_RING_SLOTS + tail % C.NET_SLOTS * C.NET_SLOT_SIZE
            out.append(self.mem.read(at + 8, self.u64(at)))
            tail += 1
        self.set_u64(RX + TAIL, tail)
        return out

    def wait_for(self, match, timeout: float = 5.0) -> bytes | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for f in self.frames():
                if match(f):
                    return f
            time.sleep(0.005)
        return None
