"""The network settings of a run, from HERMIT_APP_PORT, HERMIT_HOST_PORTS and
HERMIT_CAPTURE_NET (or `hermit run -p/--host-ports/--capture-net`), checked before any
VM or QEMU starts: a malformed value or a forwarded host port in use is one line."""

import errno
import socket

from ..config import ConfigError

CAPTURE_FILE = "hermit-net.pcap"  # HERMIT_CAPTURE_NET=1 writes it in the working directory
ALL = "all"


def _what(name: str, value: str) -> str:
    """How the user wrote it: HERMIT_APP_PORT='x' or -p 'x'."""
    return f"{name} {value!r}" if name.startswith("-") else f"{name}={value!r}"


def _port(text: str, name: str, whole: str) -> int:
    t = text.strip()
    if not (t.isascii() and t.isdigit()) or not 1 <= int(t) <= 65535:
        sep = " " if name.startswith("-") else "="
        raise ConfigError(f"{_what(name, whole)} is not a list of TCP ports; use e.g. "
                          f"{name}{sep}8080 or {name}{sep}8080:80,2222:22 (host:guest, "
                          f"1-65535)")
    return int(t)


def parse_forwards(text: str, name: str = "HERMIT_APP_PORT") -> list[tuple[int, int]]:
    """`N` (host port N to the guest's N, HermitCore's form), `H:G`, comma-separated:
    [(host, guest)]; one host port once."""
    out: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        host, sep, guest = item.partition(":")
        pair = (_port(host, name, text), _port(guest if sep else host, name, text))
        if any(h == pair[0] for h, _g in out):
            raise ConfigError(f"{_what(name, text)} forwards host port {pair[0]} twice")
        out.append(pair)
    if not out:
        raise ConfigError(f"{_what(name, text)} names no port; use e.g. 8080")
    return out


def parse_host_ports(text: str, name: str = "HERMIT_HOST_PORTS") -> frozenset[int] | str:
    """Ports of the host's own loopback the guest may reach at the gateway, 10.0.2.2
    (comma-separated), or `all`; empty: none."""
    if text.strip().lower() == ALL:
        return ALL
    ports = set()
    for item in text.split(","):
        if item.strip():
            ports.add(_port(item, name, text))
    return frozenset(ports)


def raise_fd_limit(cap: int = 1 << 20) -> None:
    """Each connection through the user-mode network holds a host socket in the loader
    (libslirp) or in QEMU, so a guest serving 1,000 connections needs more than the
    usual soft RLIMIT_NOFILE of 1024: raise it to the hard limit (as far as `cap`), as
    servers do.  QEMU inherits it.  Nothing here ever lowers a limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass  # as many connections as the old limit allows


def check_forwards_free(forwards: list[tuple[int, int]]) -> None:
    """Each forwarded host port must be free on the host's loopback now (both loaders
    bind 127.0.0.1:H); a port in use is one line naming it, before the guest starts."""
    from .slirp import port_in_use  # the message only: no libslirp is loaded

    for host, _guest in forwards:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as slirp binds it
            s.bind(("127.0.0.1", host))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(port_in_use(host)) from None
            if e.errno == errno.EACCES:
                raise ConfigError(f"host port {host} (HERMIT_APP_PORT) needs root (ports "
                                  f"below 1024): forward a higher one, e.g. "
                                  f"HERMIT_APP_PORT={host + 8000}:{host}") from None
            raise
        finally:
            s.close()
