"""uhyve's NIC: the host side of the rings the kernel's drivers/net/uhyve_net.c shares
(struct net_ring, hermit_build/abi/spec.py), served by one thread of its own that also
drives the network behind it: a backend (libslirp's user-mode network, or a tap device)
made by a factory at the guest's first HC_NET_OPEN, with `input(frame)` for the guest's
frames, `pump(timeout_ms, extra_fds)` that waits for the network or one of the extra fds,
hands the network's frames to the NIC and returns the readable extras, and `close()`.

Receiving costs the guest no VM exit: this thread writes frames into the rx ring and,
when the kernel said it may sleep (rx.wait), ends the vCPUs' HC_IDLE.  Sending costs
one (HC_NET_KICK) only while this thread sleeps (tx.wait): after frames it stays awake
for LINGER seconds, looking at the tx ring without sleeping.  Everything from the guest
is checked: a frame length outside [14, NET_FRAME_MAX] or a ring whose counters went
wrong drops frames, never the loader.

The loop runs in compiled code when it can (_hermit_fastio.NicPump, pyext/netpump.c:
the same steps without the GIL, ~10x the frames a second), behind libslirp or a tap
device; this module's loop is the reference, and the path with a capture file,
without the compiled module, or with HERMIT_NIC_PUMP=python.
"""

import errno
import os
import struct
import threading
import time

from .. import threadstart
from ..abi import C, S
from ..guestmem import GuestFault, GuestMemory
from .hostfilter import allowed
from .slirp import MTU, Slirp

MAC = bytes((0x52, 0x54, 0x00, 0x12, 0x34, 0x56))  # QEMU's first user-mode NIC's
LINGER = 200e-6  # seconds awake after the last frame before tx.wait and a real sleep
MAX_SLEEP_MS = 1000  # a lost kick delays at most this long
_U64 = struct.Struct("<Q")
_MASK = (1 << 64) - 1
_HEAD, _TAIL, _WAIT = (S.net_ring.offset[f] for f in ("head", "tail", "wait"))


class Ring:
    def __init__(self, mem: GuestMemory, gpa: int):
        self.view = mem.view(gpa, C.NET_RING_BYTES)  # GuestFault outside guest RAM
        # The counters through a u64 view: an item is read and stored as one 8-byte
        # access, where struct.pack_into stores byte by byte and the kernel could see a
        # counter half written (a head that went back, a tail that ran past it).
        self.words = self.view[: S.net_ring.size].cast("Q")

    def get(self, off: int) -> int:
        return self.words[off // 8]

    def set(self, off: int, value: int) -> None:
        self.words[off // 8] = value & _MASK

    def length(self, at: int) -> int:
        """A slot's length word (written before the counter that hands the slot over)."""
        return _U64.unpack_from(self.view, at)[0]

    def set_length(self, at: int, value: int) -> None:
        _U64.pack_into(self.view, at, value)

    def slot(self, i: int) -> int:
        return C.NET_RING_SLOTS + (i % C.NET_SLOTS) * C.NET_SLOT_SIZE


class Nic:
    """One per uhyve guest; `wake()` ends every vCPU's HC_IDLE."""

    def __init__(self, mem: GuestMemory, wake, forwards=(), host_ports=frozenset(),
                 capture=None, backend=None, mac: bytes = MAC, tap_fd: int = -1):
        """backend(send) makes the network, `send` its way to the guest; None: libslirp
        with `forwards` and `host_ports` (UserMode).  tap_fd: the tap device a TapNet
        backend owns, which the compiled loop then reads and writes itself."""
        self.mem, self.wake = mem, wake
        self.make_backend = backend or (lambda send: UserMode(send, forwards, host_ports))
        self.user_mode = backend is None  # libslirp: the compiled loop can serve it
        self.tap_fd = tap_fd
        self.forwards, self.host_ports = list(forwards), host_ports
        self.capture, self.mac = capture, mac
        self.rx: Ring | None = None
        self.tx: Ring | None = None
        self.backend = None  # made at HC_NET_OPEN
        self.pump = None  # _hermit_fastio.NicPump when the compiled loop serves
        self.kick_fd = -1
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.fence = threading.Lock()  # acquire+release: a locked instruction, a full fence
        self._dropped = 0
        self.sent = self.received = self.kicks = self.wakes = 0  # frames from/to the guest
        self.error: BaseException | None = None

    @property
    def dropped(self) -> int:
        """Frames dropped (bad lengths, a broken ring, a full rx ring)."""
        return self.pump.stats()[2] if self.pump is not None else self._dropped

    @dropped.setter
    def dropped(self, value: int) -> None:
        self._dropped = value

    # -- the hypercalls (a vCPU thread) ---------------------------------------------------

    def open(self, gpa: int) -> None:
        """HC_NET_OPEN: check the rings, start the network, answer mac, mtu, ret."""
        a = S.hc_net.unpack(self.mem.view(gpa, S.hc_net.size))
        ret = 0
        if self.thread is not None:
            ret = -errno.EBUSY
        elif not self._rings(a["rx"], a["tx"]):
            ret = -errno.EFAULT
        else:
            from .options import raise_fd_limit

            raise_fd_limit()  # libslirp holds a host socket per connection
            self.kick_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.pump = self._compiled()  # SlirpMissing: one line
            if self.pump is not None and self.user_mode:  # HermitError: one line
                self.backend = UserMode(self._to_guest, self.forwards, self.host_ports,
                                        self.pump.slirp_new)
            else:  # the tap device's owner, or the network this module's loop drives
                self.backend = self.make_backend(self._to_guest)  # HermitError: one line
                if self.pump is None and self.tap_fd >= 0:
                    from .tap import offload

                    offload(self.tap_fd, False)  # whole frames: a guest before may have
                    # left the device's offloads on
            serve = self._serve_compiled if self.pump else self._serve
            self.thread = threading.Thread(target=serve, name="hermit-nic", daemon=True)
            threadstart.start(self.thread)
        out = S.hc_net.pack(rx=a["rx"], tx=a["tx"], mac=int.from_bytes(self.mac, "little"),
                            mtu=MTU, ret=ret)
        self.mem.write(gpa, out)

    def _rings(self, rx: int, tx: int) -> bool:
        size = C.NET_RING_BYTES
        if rx % 4096 or tx % 4096 or rx < tx + size and tx < rx + size:
            return False
        try:
            self.rx, self.tx = Ring(self.mem, rx), Ring(self.mem, tx)
        except GuestFault:
            return False
        return True

    def _compiled(self):
        """The compiled loop over these rings, or None for this module's."""
        tap = self.tap_fd >= 0
        if (not (self.user_mode or tap) or self.capture
                or os.environ.get("HERMIT_NIC_PUMP") == "python"):
            return None
        try:
            from _hermit_fastio import NicPump
        except ImportError:
            return None
        layout = (_HEAD, _TAIL, _WAIT, C.NET_RING_SLOTS, C.NET_SLOTS, C.NET_SLOT_SIZE,
                  C.NET_FRAME_MAX)
        if tap:
            from .tap import offload

            # large segments both ways: the loop cuts the host's, merges the guest's
            gso = offload(self.tap_fd, True)
            return NicPump(0, self.rx.view, self.tx.view, layout, self.wake, self.kick_fd,
                           None, frozenset(), self.tap_fd, gso)
        from .slirp import library

        ports = None if self.host_ports == "all" else self.host_ports
        served = frozenset(guest for _host, guest in self.forwards)
        return NicPump(library()._handle, self.rx.view, self.tx.view, layout, self.wake,
                       self.kick_fd, ports, served)

    def kick(self) -> None:
        """HC_NET_KICK: the kernel queued frames while this thread slept."""
        self.kicks += 1
        if self.kick_fd >= 0:
            os.eventfd_write(self.kick_fd, 1)

    def summary(self) -> str:
        if self.pump is not None:
            self.sent, self.received, self._dropped, self.wakes = self.pump.stats()
        return (f"uhyve: NIC: {self.sent} frames sent ({self.kicks} HC_NET_KICK exits), "
                f"{self.received} received ({self.wakes} idle wake-ups), {self.dropped} dropped"
                + (f"; the NIC thread failed: {self.error!r}" if self.error else ""))

    def close(self) -> None:
        self.stopping = True
        if self.pump is not None:
            self.pump.stop()
        if self.thread is not None and self.kick_fd >= 0:
            os.eventfd_write(self.kick_fd, 1)  # not a kick the guest sent: uncounted
            self.thread.join(2)
        if self.thread and self.thread.is_alive():
            return  # stuck in the backend: leave it all to the process's end
        if self.backend is not None:
            self.backend.close()
        if self.pump is not None:
            self.summary()  # the counters, before the pump goes
            self.pump.close()  # its hold on the rings
            self.pump = None
        for ring in (self.rx, self.tx):
            if ring is not None:
                ring.words.release()
                ring.view.release()
        self.rx = self.tx = None
        if self.capture:
            self.capture.close()
        if self.kick_fd >= 0:
            os.close(self.kick_fd)
            self.kick_fd = -1

    # -- the NIC thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            awake_until = 0.0
            while not self.stopping:
                if self._from_guest():
                    awake_until = time.monotonic() + LINGER
                if time.monotonic() < awake_until:
                    self.backend.pump(0)
                    continue
                self.tx.set(_WAIT, 1)
                with self.fence:  # wait stored before head is read (the kernel: the reverse)
                    pass
                if self._pending():
                    self.tx.set(_WAIT, 0)
                    continue
                if self.backend.pump(MAX_SLEEP_MS, [self.kick_fd]):
                    try:
                        os.eventfd_read(self.kick_fd)
                    except BlockingIOError:
                        pass
                self.tx.set(_WAIT, 0)
        except BaseException as e:  # noqa: BLE001 - a dead NIC must not end the loader
            self.error = e

    def _serve_compiled(self) -> None:
        try:
            self.pump.run()
        except BaseException as e:  # noqa: BLE001 - a dead NIC must not end the loader
            self.error = e

    def _pending(self) -> bool:
        return self.tx.get(_HEAD) != self.tx.get(_TAIL)

    def _from_guest(self) -> int:
        tx = self.tx
        head, tail = tx.get(_HEAD), tx.get(_TAIL)
        if (head - tail) & _MASK > C.NET_SLOTS:  # the kernel broke the ring: drop it all
            self.dropped += 1
            tx.set(_TAIL, head)
            return 0
        n = 0
        while tail != head:
            at = tx.slot(tail)
            length = tx.length(at)
            if 14 <= length <= C.NET_FRAME_MAX:
                frame = bytes(tx.view[at + 8 : at + 8 + length])
                if self.capture:
                    self.capture.frame(frame)
                self.backend.input(frame)
            else:
                self.dropped += 1
            tail = (tail + 1) & _MASK
            tx.set(_TAIL, tail)
            n += 1
        self.sent += n
        return n

    def _to_guest(self, frame: bytes) -> None:
        """The backend's frames: one into the rx ring (dropped when it is full, as a
        NIC drops: TCP sends again)."""
        if self.capture:
            self.capture.frame(frame)
        rx = self.rx
        head, tail = rx.get(_HEAD), rx.get(_TAIL)
        if (head - tail) & _MASK >= C.NET_SLOTS or len(frame) > C.NET_FRAME_MAX:
            self.dropped += 1
        else:
            at = rx.slot(head)
            rx.set_length(at, len(frame))
            rx.view[at + 8 : at + 8 + len(frame)] = frame
            rx.set(_HEAD, head + 1)  # after the slot: x86 keeps stores in order
            self.received += 1
        with self.fence:  # head stored before wait is read (the kernel: the reverse)
            pass
        if rx.get(_WAIT):
            rx.set(_WAIT, 0)
            self.wakes += 1
            self.wake()


class UserMode:
    """The default backend: libslirp (slirp.py), the guest's TCP and UDP to the host's
    loopback filtered (hostfilter.py)."""

    def __init__(self, send, forwards=(), host_ports=frozenset(), make=None):
        """make: slirp_new with the compiled loop's callbacks (slirp.py's Slirp)."""
        forwards = list(forwards)
        self.host_ports = host_ports
        self.served = frozenset(guest for _host, guest in forwards)
        self.slirp = Slirp(send, forwards, make)
        self.pump = self.slirp.pump

    def input(self, frame: bytes) -> None:
        if allowed(frame, self.host_ports, self.served):
            self.slirp.input(frame)

    def close(self) -> None:
        self.slirp.close()
