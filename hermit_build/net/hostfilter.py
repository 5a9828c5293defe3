"""The host's own loopback services are reachable from the guest only on the ports the
user lists (HERMIT_HOST_PORTS): slirp maps the gateway address, 10.0.2.2, to the host's
127.0.0.1, so the NIC drops the guest's TCP and UDP to 10.0.2.2 on any other port,
except the answers of the guest's forwarded ports (HERMIT_APP_PORT): the host's
connections to them come from 10.0.2.2 too.  Everything else (the outside, DNS
through 10.0.2.3, ping of the gateway) passes."""

from .slirp import HOST, in_addr

_GATEWAY = in_addr(HOST).to_bytes(4, "little")  # the address's bytes in network order
_IPV4 = b"\x08\x00"
_TCP, _UDP = 6, 17


def allowed(frame: bytes, ports: frozenset[int] | str,
            served: frozenset[int] = frozenset()) -> bool:
    """May this frame from the guest reach slirp?  `served`: the guest ports that
    HERMIT_APP_PORT forwards to (their answers go to the host's ephemeral ports)."""
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
    if int.from_bytes(frame[at : at + 2], "big") in served:
        return True  # a forwarded port's answer to the host's connection
    return int.from_bytes(frame[at + 2 : at + 4], "big") in ports
