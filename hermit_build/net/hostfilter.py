"""The host's own loopback services are reachable from the guest only on the ports the
user lists (HERMIT_HOST_PORTS): slirp maps the gateway address, 10.0.2.2, to the host's
127.0.0.1, so the NIC drops the guest's TCP and UDP to 10.0.2.2 on any other port.
Everything else (the outside, DNS through 10.0.2.3, ping of the gateway) passes."""

from .slirp import HOST, in_addr

_GATEWAY = in_addr(HOST).to_bytes(4, "little")  # the address's bytes in network order
_IPV4 = b"\x08\x00"
_TCP, _UDP = 6, 17


def allowed(frame: bytes, ports: frozenset[int] | str) -> bool:
    """May this frame from the guest reach slirp?"""
    if ports == "all" or len(frame) < 34 or frame[12:14] != _IPV4:
        return True
    if frame[30:34] != _GATEWAY:
        return True
    proto, ihl = frame[23], (frame[14] & 0x0F) * 4
    if proto not in (_TCP, _UDP):
        return True
    at = 14 + ihl
    if int.from_bytes(frame[20:22], "big") & 0x1FFF:
        return True  # a later fragment: slirp delivers nothing unless the first passed
    if ihl < 20 or len(frame) < at + 4:
        return False  # a TCP or UDP packet for the host without its ports: never
    if int.from_bytes(frame[20:22], "big") & 0x1FFF:
        return True  # a later fragment: slirp delivers nothing unless the first passed
    return int.from_bytes(frame[at + 2 : at + 4], "big") in ports
