"""The tap backend, for users with root: HERMIT_NETIF=tapX (a tap device the user made,
e.g. `ip tuntap add dev tap0 mode tap`) with HermitCore's HERMIT_IP, HERMIT_GATEWAY and
HERMIT_MASK, and HERMIT_DNS (else the host's /etc/resolv.conf).  The guest takes the
static address (boot_info.net_ip, net_mask, net_gw) instead of asking DHCP; its
/etc/resolv.conf names the DNS server.  QEMU opens the device itself (`-netdev tap`,
vhost-net where the host offers it); uhyve's NIC moves frames between its rings and
the device's fd (TapNet, a backend of nic.py).  Every setting and the device are
checked before a VM starts: a problem is one line naming it and the fix."""

import errno
import fcntl
import ipaddress
import os
import select
import struct

from ..config import ConfigError

TUN = "/dev/net/tun"
VHOST_NET = "/dev/vhost-net"
TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4 = 0x01, 0x02
VNET_HDR = 10  # struct virtio_net_hdr before every frame (IFF_VNET_HDR)
_PLAIN = bytes(VNET_HDR)  # no checksum to fill, no segmentation
RESOLV_CONF = "/etc/resolv.conf"
DEFAULT_MASK = "255.255.255.0"
VARIABLES = ("HERMIT_NETIF", "HERMIT_IP", "HERMIT_GATEWAY", "HERMIT_MASK", "HERMIT_DNS")
_FRAME_MAX = 65536 + 64  # a read of the device: one frame and its virtio_net_hdr
_DRAIN_MAX = 64  # frames taken at once: the NIC thread goes back to the tx ring between


class Tap:
    """The settings of one tap network: addresses as ipaddress objects."""

    def __init__(self, ifname: str, ip, mask, gateway, dns=None):
        self.ifname, self.ip, self.mask, self.gateway, self.dns = ifname, ip, mask, gateway, dns
        self.fd = -1  # uhyve: the device, opened before the VM (open_device)

    def take(self) -> int:
        """The device's fd, now owned by the caller (uhyve's NIC): the one launch()
        opened, or a new one (a caller of uhyve.run without launch)."""
        fd, self.fd = self.fd, -1
        return fd if fd >= 0 else open_device(self.ifname)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def mac(self) -> bytes:
        """52:54 and the guest's address: two guests on one bridge never share a MAC."""
        return b"\x52\x54" + self.ip.packed

    @property
    def mac_text(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)

    def boot_info(self) -> dict[str, int]:
        """boot_info.net_*: each address's bytes in network order read as a little-endian
        number (what lwIP's ip4_addr_t holds on x86)."""
        return {f: int.from_bytes(a.packed, "little") for f, a in
                (("net_ip", self.ip), ("net_mask", self.mask), ("net_gw", self.gateway))}

    def resolv_conf(self) -> bytes:
        if self.dns is None:
            return (b"# hermit: no name server (HERMIT_DNS is unset and the host's "
                    b"resolv.conf names none the guest can reach)\n")
        return f"# hermit: HERMIT_DNS or the host's first name server\nnameserver {self.dns}\n" \
            .encode()

    def __repr__(self) -> str:
        return f"Tap({self.ifname} {self.ip}/{self.mask} gw {self.gateway} dns {self.dns})"


def _address(text: str, name: str, example: str) -> ipaddress.IPv4Address:
    t = text.strip()
    try:
        if t.count(".") != 3:
            raise ValueError
        return ipaddress.IPv4Address(t)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not an IPv4 address; use a dotted quad, "
                          f"e.g. {name}={example}") from None


def _host_dns(path: str = RESOLV_CONF) -> ipaddress.IPv4Address | None:
    """The first IPv4 name server of the host's resolv.conf the guest can reach (not a
    loopback one such as systemd-resolved's 127.0.0.53)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                a = ipaddress.IPv4Address(words[1])
            except ValueError:
                continue
            if not a.is_loopback:
                return a
    return None


def from_settings(values: dict[str, str], names: dict[str, str] | None = None) -> Tap:
    """HERMIT_NETIF and the addresses from `values` (the environment, or the variables
    that `hermit run`'s flags set); `names`: how the user wrote a variable (its flag)."""
    def name(var: str) -> str:
        return (names or {}).get(var, var)

    ifname = values.get("HERMIT_NETIF", "").strip()
    if not ifname:
        given = next(v for v in VARIABLES if values.get(v, "").strip())
        raise ConfigError(f"{name(given)} sets up a tap network, which needs "
                          f"{name('HERMIT_NETIF')}=tapX (a tap device): set it, or unset "
                          f"{name(given)} for the user-mode network")
    if len(ifname) > 15 or "/" in ifname or ifname in (".", "..") \
            or any(c.isspace() for c in ifname):
        raise ConfigError(f"{name('HERMIT_NETIF')}={ifname!r} is not a network interface "
                          f"name; use a tap device's, e.g. tap0")
    if not values.get("HERMIT_IP", "").strip():
        raise ConfigError(f"{name('HERMIT_NETIF')}={ifname} needs the guest's address on "
                          f"that network: set {name('HERMIT_IP')}, e.g. "
                          f"{name('HERMIT_IP')}=10.0.5.2")
    ip = _address(values["HERMIT_IP"], name("HERMIT_IP"), "10.0.5.2")
    mask = _address(values.get("HERMIT_MASK") or DEFAULT_MASK, name("HERMIT_MASK"),
                    DEFAULT_MASK)
    try:
        net = ipaddress.IPv4Network(f"{ip}/{mask}", strict=False)
        if net.netmask != mask:  # ipaddress takes 0.0.0.255 as a host mask
            raise ValueError
    except ValueError:
        raise ConfigError(f"{name('HERMIT_MASK')}={values['HERMIT_MASK']!r} is not a netmask "
                          f"(contiguous ones); use e.g. {DEFAULT_MASK}") from None
    if net.prefixlen > 30 or ip in (net.network_address, net.broadcast_address):
        raise ConfigError(f"{name('HERMIT_IP')}={ip} is not a host address of {net}: pick "
                          f"another, or a wider {name('HERMIT_MASK')}")
    if values.get("HERMIT_GATEWAY", "").strip():
        gw = _address(values["HERMIT_GATEWAY"], name("HERMIT_GATEWAY"),
                      str(net.network_address + 1))
        if gw not in net or gw == ip:
            raise ConfigError(f"{name('HERMIT_GATEWAY')}={gw} is not another host of the "
                              f"guest's network {net}; use e.g. {net.network_address + 1}")
    else:
        gw = net.network_address + 1  # the subnet's first address
        if gw == ip:
            raise ConfigError(f"{name('HERMIT_IP')}={ip} is the default gateway (the "
                              f"subnet's first address): set {name('HERMIT_GATEWAY')}")
    if values.get("HERMIT_DNS", "").strip():
        dns = _address(values["HERMIT_DNS"], name("HERMIT_DNS"), str(gw))
    else:
        dns = _host_dns()
    return Tap(ifname, ip, mask, gw, dns)


def check_combination(tap: Tap, forwards, host_ports) -> None:
    """Forwards and host ports belong to the user-mode network: with a tap device the
    host reaches the guest at its own address."""
    if forwards or host_ports:
        what = "HERMIT_APP_PORT" if forwards else "HERMIT_HOST_PORTS"
        raise ConfigError(f"{what} is for the user-mode network, but HERMIT_NETIF="
                          f"{tap.ifname} gives the guest its own address: reach it at "
                          f"{tap.ip} and unset {what}")


def _sysfs(ifname: str, leaf: str) -> str | None:
    try:
        with open(f"/sys/class/net/{ifname}/{leaf}") as f:
            return f.read().strip()
    except OSError:
        return None


def open_device(ifname: str) -> int:
    """An fd of the existing tap device `ifname` (frames without packet info, each
    after a struct virtio_net_hdr, non-blocking; offloads off until offload() asks);
    a missing device, a tun device, no permission or a device in use is one line.
    Never creates a device: TUNSETIFF would, for root."""
    if not os.path.exists(f"/sys/class/net/{ifname}"):
        raise ConfigError(f"HERMIT_NETIF={ifname}: no such network device; create it (as "
                          f"root): ip tuntap add dev {ifname} mode tap && ip link set "
                          f"{ifname} up")
    flags = _sysfs(ifname, "tun_flags")
    if flags is None:
        raise ConfigError(f"HERMIT_NETIF={ifname} is not a tap device; create one (as "
                          f"root): ip tuntap add dev NAME mode tap")
    if not int(flags, 16) & IFF_TAP:
        raise ConfigError(f"HERMIT_NETIF={ifname} is a tun device (IP packets), hermit "
                          f"needs a tap device (Ethernet frames): ip tuntap add dev NAME "
                          f"mode tap")
    try:
        fd = os.open(TUN, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"HERMIT_NETIF={ifname}: cannot open {TUN} ({e.strerror}): run "
                          f"as root, or give your user the device (ip tuntap add dev "
                          f"{ifname} mode tap user $USER)") from None
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", ifname.encode(),
                                               IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    except OSError as e:
        os.close(fd)
        if e.errno == errno.EBUSY:
            raise ConfigError(f"HERMIT_NETIF={ifname} is in use by another process (a "
                              f"running guest?): stop it, or give this guest another tap "
                              f"device") from None
        if e.errno == errno.EPERM:
            raise ConfigError(f"HERMIT_NETIF={ifname}: no permission to attach to it: run "
                              f"as root, or make it yours (ip tuntap add dev {ifname} mode "
                              f"tap user $USER)") from None
        raise ConfigError(f"HERMIT_NETIF={ifname}: cannot attach to it ({e.strerror})") \
            from None
    return fd


def offload(fd: int, on: bool) -> bool:
    """on: let the host hand the device TCP segments of up to 64 KiB and checksums left
    to fill (TUN_F_TSO4, TUN_F_CSUM), which the compiled NIC loop cuts and completes
    (pyext/netpump.c; the host's stack then passes one buffer where it passed 45).
    off: whole frames only, for TapNet's own loop; the setting is the device's and
    outlives this fd.  False where the kernel refuses."""
    try:
        fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 if on else 0)
    except OSError:
        return False
    return True


def down_notice(ifname: str) -> str | None:
    """A notice when the device is down: the guest's frames would go nowhere (the user
    may still bring it up while the guest runs)."""
    flags = _sysfs(ifname, "flags")
    if flags is not None and not int(flags, 16) & 1:  # IFF_UP
        return (f"HERMIT_NETIF={ifname} is down: the guest reaches nothing until "
                f"`ip link set {ifname} up`")
    return None


def vhost_usable() -> bool:
    """/dev/vhost-net is there and opens (QEMU would fail to start otherwise)."""
    try:
        os.close(os.open(VHOST_NET, os.O_RDWR | os.O_CLOEXEC))
    except OSError:
        return False
    return True


class TapNet:
    """uhyve's NIC backend (nic.py): the guest's frames written to the device, the
    device's frames to `send`, the NIC thread waiting in poll() for either."""

    def __init__(self, send, fd: int):
        self.send, self.fd = send, fd
        self.dropped = 0
        self.poll = select.poll()
        self.poll.register(fd, select.POLLIN)
        self.extra: list[int] = []

    def input(self, frame: bytes) -> None:
        try:
            os.write(self.fd, _PLAIN + frame)
        except OSError:  # the device is down or its queue full: dropped, as a NIC does
            self.dropped += 1

    def pump(self, timeout_ms: int, extra: list[int] = ()) -> list[int]:
        if list(extra) != self.extra:
            for fd in self.extra:
                self.poll.unregister(fd)
            self.extra = list(extra)
            for fd in self.extra:
                self.poll.register(fd, select.POLLIN)
        ready = dict(self.poll.poll(timeout_ms))
        if ready.get(self.fd):
            self._drain()
        return [fd for fd in self.extra if ready.get(fd, 0) & select.POLLIN]

    def _drain(self) -> None:
        for _ in range(_DRAIN_MAX):
            try:
                frame = os.read(self.fd, _FRAME_MAX)
            except BlockingIOError:
                return
            except OSError:
                self.dropped += 1
                return
            if len(frame) < VNET_HDR + 14:
                return
            whole = _complete(frame)
            if whole is None:
                self.dropped += 1
            else:
                self.send(whole)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _complete(read: bytes) -> bytes | None:
    """The frame of one read of the device, its checksum filled in where the host left
    it (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the pseudo-header's sum); None for
    a segment to cut, which this loop never asks for (offload() is the compiled one's)."""
    flags, gso, _hl, _size, start, at = struct.unpack_from("<BBHHHH", read)
    frame = read[VNET_HDR:]
    if gso:
        return None
    if flags & 1:
        if start + at + 2 > len(frame):
            return None
        data = frame[start:] + b"\0" * (len(frame[start:]) & 1)
        total = sum(struct.unpack(f">{len(data) // 2}H", data))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        frame = frame[:start + at] + struct.pack(">H", ~total & 0xFFFF) + frame[start + at + 2:]
    return frame
