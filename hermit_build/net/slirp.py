"""Debian's libslirp0 through ctypes: one user-mode network (NAT, DHCP, DNS relay, port
forwards) for one guest, driven by the NIC thread that owns it (slirp is not thread
safe).  Loaded at the guest's first HC_NET_OPEN, never on the boot path (dlopen of
libslirp and glib costs ~25 ms)."""

import ctypes
import os
import select
import time

from ..errors import HermitError
from . import USER_DNS
from .backlog import lowest_free_fd, widen_own

LIBRARY = "libslirp.so.0"
# The addresses QEMU's user networking uses too, so guests behave the same under both.
NETWORK, NETMASK, HOST, DHCP_START, DNS = "10.0.2.0", "255.255.255.0", "10.0.2.2", \
    "10.0.2.15", USER_DNS
GUEST = DHCP_START  # the first (only) DHCP lease; HERMIT_APP_PORT forwards to it
MTU = 1500
_POLL_IN, _POLL_OUT, _POLL_PRI, _POLL_ERR, _POLL_HUP = 1, 2, 4, 8, 16


class SlirpMissing(HermitError):
    def __init__(self, why: str):
        super().__init__(f"the guest asks for a network, but {LIBRARY} cannot be loaded "
                         f"({why}): install libslirp0 (apt-get install libslirp0)")


class ForwardError(HermitError):
    pass


def in_addr(dotted: str) -> int:
    """A struct in_addr's value: the address's bytes in network order, read as a u32."""
    return int.from_bytes(bytes(int(p) for p in dotted.split(".")), "little")


class _In6(ctypes.Structure):
    _fields_ = [("w", ctypes.c_uint32 * 4)]


class Config(ctypes.Structure):
    """struct SlirpConfig, version 3 (libslirp >= 4.5; Debian 12 has 4.7)."""

    _fields_ = [
        ("version", ctypes.c_uint32), ("restricted", ctypes.c_int),
        ("in_enabled", ctypes.c_bool), ("vnetwork", ctypes.c_uint32),
        ("vnetmask", ctypes.c_uint32), ("vhost", ctypes.c_uint32),
        ("in6_enabled", ctypes.c_bool), ("vprefix_addr6", _In6), ("vprefix_len", ctypes.c_uint8),
        ("vhost6", _In6), ("vhostname", ctypes.c_char_p), ("tftp_server_name", ctypes.c_char_p),
        ("tftp_path", ctypes.c_char_p), ("bootfile", ctypes.c_char_p),
        ("vdhcp_start", ctypes.c_uint32), ("vnameserver", ctypes.c_uint32),
        ("vnameserver6", _In6), ("vdnssearch", ctypes.c_void_p), ("vdomainname", ctypes.c_char_p),
        ("if_mtu", ctypes.c_size_t), ("if_mru", ctypes.c_size_t),
        ("disable_host_loopback", ctypes.c_bool), ("enable_emu", ctypes.c_bool),
        ("outbound_addr", ctypes.c_void_p), ("outbound_addr6", ctypes.c_void_p),
        ("disable_dns", ctypes.c_bool),
    ]  # fmt: skip


_SEND = ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_ERROR = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)
_CLOCK = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
_TIMER_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_TIMER_NEW = ctypes.CFUNCTYPE(ctypes.c_void_p, _TIMER_CB, ctypes.c_void_p, ctypes.c_void_p)
_TIMER_FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_TIMER_MOD = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
_FD = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
_NOTIFY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_ADD_POLL = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_REVENTS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


class Callbacks(ctypes.Structure):
    _fields_ = [
        ("send_packet", _SEND), ("guest_error", _ERROR), ("clock_get_ns", _CLOCK),
        ("timer_new", _TIMER_NEW), ("timer_free", _TIMER_FREE), ("timer_mod", _TIMER_MOD),
        ("register_poll_fd", _FD), ("unregister_poll_fd", _FD), ("notify", _NOTIFY),
        ("init_completed", ctypes.c_void_p), ("timer_new_opaque", ctypes.c_void_p),
    ]  # fmt: skip


_lib = None


def library() -> ctypes.CDLL:
    """libslirp, loaded once; SlirpMissing when it cannot be."""
    global _lib
    if _lib is None:
        name = os.environ.get("HERMIT_LIBSLIRP", LIBRARY)  # tests: a missing library
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise SlirpMissing(str(e).split(":")[-1].strip() or "not found") from None
        lib.slirp_new.restype = ctypes.c_void_p
        lib.slirp_new.argtypes = [ctypes.POINTER(Config), ctypes.POINTER(Callbacks),
                                  ctypes.c_void_p]
        lib.slirp_input.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.slirp_pollfds_fill.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32),
                                           _ADD_POLL, ctypes.c_void_p]
        lib.slirp_pollfds_poll.argtypes = [ctypes.c_void_p, ctypes.c_int, _REVENTS,
                                           ctypes.c_void_p]
        lib.slirp_add_hostfwd.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32,
                                          ctypes.c_int, ctypes.c_uint32, ctypes.c_int]
        lib.slirp_cleanup.argtypes = [ctypes.c_void_p]
        _lib = lib
    return _lib


class Slirp:
    """One user-mode network.  `send(frame)` receives each frame for the guest, from
    within input() and pump(), on the caller's thread."""

    def __init__(self, send, forwards: list[tuple[int, int]] = (), make=None):
        """make(config address): slirp_new with the caller's own callbacks (the
        compiled NIC loop's), instead of `send` and this class's."""
        lib = library()
        self.lib = lib
        self.send = send
        self.timers: dict[int, list] = {}  # id -> [deadline ms or None, callback, opaque]
        self._next_timer = 1
        self.pollfds: list[tuple[int, int]] = []
        self.revents: dict[int, int] = {}
        cfg = Config(version=3, restricted=0, in_enabled=True, vnetwork=in_addr(NETWORK),
                     vnetmask=in_addr(NETMASK), vhost=in_addr(HOST), in6_enabled=False,
                     vdhcp_start=in_addr(DHCP_START), vnameserver=in_addr(DNS),
                     vhostname=b"hermit", if_mtu=MTU, if_mru=MTU)
        # ctypes callbacks must outlive the slirp: kept on self
        self._cb = Callbacks(
            send_packet=_SEND(self._send), guest_error=_ERROR(lambda msg, _o: None),
            clock_get_ns=_CLOCK(lambda _o: time.monotonic_ns()),
            timer_new=_TIMER_NEW(self._timer_new), timer_free=_TIMER_FREE(self._timer_free),
            timer_mod=_TIMER_MOD(self._timer_mod), register_poll_fd=_FD(lambda fd, _o: None),
            unregister_poll_fd=_FD(lambda fd, _o: None), notify=_NOTIFY(lambda _o: None))
        self._add_poll = _ADD_POLL(self._add)
        self._get_revents = _REVENTS(lambda idx, _o: self.revents.get(idx, 0))
        self._cfg = cfg
        self.slirp = make(ctypes.addressof(cfg)) if make else \
            lib.slirp_new(ctypes.byref(cfg), ctypes.byref(self._cb), None)
        if not self.slirp:
            raise HermitError("libslirp could not set up the guest's network")
        try:
            for host, guest in forwards:
                hint = lowest_free_fd()
                if lib.slirp_add_hostfwd(self.slirp, 0, in_addr("127.0.0.1"), host,
                                         in_addr(GUEST), guest) < 0:
                    raise ForwardError(port_in_use(host))
                widen_own(host, hint)  # slirp listens with a backlog of 1
        except BaseException:
            self.close()
            raise

    def _send(self, buf, length, _opaque) -> int:
        self.send(ctypes.string_at(buf, length))
        return length

    def _timer_new(self, cb, cb_opaque, _opaque) -> int:
        tid = self._next_timer
        self._next_timer += 1
        self.timers[tid] = [None, cb, cb_opaque]
        return tid

    def _timer_free(self, tid, _opaque) -> None:
        self.timers.pop(tid, None)

    def _timer_mod(self, tid, expire_ms, _opaque) -> None:
        if tid in self.timers:
            self.timers[tid][0] = expire_ms

    def _add(self, fd: int, events: int, _opaque) -> int:
        self.pollfds.append((fd, events))
        return len(self.pollfds) - 1

    def input(self, frame: bytes) -> None:
        """A frame from the guest."""
        self.lib.slirp_input(self.slirp, frame, len(frame))

    def pump(self, timeout_ms: int, extra: list[int] = ()) -> list[int]:
        """Wait up to `timeout_ms` (or slirp's next timeout) for slirp's sockets and the
        `extra` fds, serve slirp; the extra fds that are readable."""
        self.pollfds.clear()
        t = ctypes.c_uint32(max(0, timeout_ms))
        self.lib.slirp_pollfds_fill(self.slirp, ctypes.byref(t), self._add_poll, None)
        timeout = t.value
        now_ms = time.monotonic_ns() // 1_000_000
        for deadline, _cb, _o in self.timers.values():
            if deadline is not None:
                timeout = min(timeout, max(0, deadline - now_ms))
        p = select.poll()
        for fd, ev in self.pollfds:
            p.register(fd, _to_poll(ev))
        for fd in extra:
            p.register(fd, select.POLLIN)
        ready = dict(p.poll(timeout))
        self.revents = {i: _from_poll(ready.get(fd, 0)) for i, (fd, _ev) in
                        enumerate(self.pollfds)}
        self.lib.slirp_pollfds_poll(self.slirp, 0, self._get_revents, None)
        now_ms = time.monotonic_ns() // 1_000_000
        for t_ in list(self.timers.values()):
            if t_[0] is not None and t_[0] <= now_ms:
                t_[0] = None
                t_[1](t_[2])
        return [fd for fd in extra if ready.get(fd, 0) & select.POLLIN]

    def close(self) -> None:
        if self.slirp:
            self.lib.slirp_cleanup(self.slirp)
            self.slirp = None


def _to_poll(ev: int) -> int:
    out = select.POLLIN if ev & _POLL_IN else 0
    out |= select.POLLOUT if ev & _POLL_OUT else 0
    out |= select.POLLPRI if ev & _POLL_PRI else 0
    return out


def _from_poll(ev: int) -> int:
    out = _POLL_IN if ev & select.POLLIN else 0
    out |= _POLL_OUT if ev & select.POLLOUT else 0
    out |= _POLL_PRI if ev & select.POLLPRI else 0
    out |= _POLL_ERR if ev & select.POLLERR else 0
    out |= _POLL_HUP if ev & select.POLLHUP else 0
    return out


def port_in_use(port: int) -> str:
    return (f"host port {port} (HERMIT_APP_PORT) is in use: stop what listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or forward another, e.g. "
            f"HERMIT_APP_PORT={port + 1}:{port}")
