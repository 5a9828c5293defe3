"""HERMIT_CAPTURE_NET=1 under uhyve: every frame between the guest and the network, in
the classic pcap format (Ethernet link type) that tcpdump and Wireshark read."""

import struct
import threading
import time

_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET
_RECORD = struct.Struct("<IIII")


class Capture:
    """Opened before the loader confines itself (Landlock), written by the NIC thread."""

    def __init__(self, path: str):
        self.f = open(path, "wb", buffering=0)  # noqa: SIM115 - lives as long as the run
        self.f.write(_HEADER)
        self.lock = threading.Lock()

    def frame(self, data: bytes) -> None:
        ns = time.time_ns()
        record = _RECORD.pack(ns // 1_000_000_000, ns // 1000 % 1_000_000, len(data), len(data))
        with self.lock:
            if self.f.closed:
                return
            try:
                self.f.write(record + data)
            except OSError:  # a full disk ends the capture, not the guest
                self.f.close()

    def close(self) -> None:
        with self.lock:
            self.f.close()
