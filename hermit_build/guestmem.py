"""Guest-physical memory as the loaders see it: bounds-checked views into host mappings.

Nothing the guest passes is trusted: every address and length is checked against
the RAM regions before a byte is touched.
"""

import mmap
import struct

_U64 = struct.Struct("<Q")
PAGE = 4096


class GuestFault(Exception):
    """A guest-supplied address range lies outside guest RAM."""


class GuestMemory:
    """Guest RAM made of regions (gpa, size, host buffer, offset into the buffer)."""

    def __init__(self, regions: list[tuple[int, int, mmap.mmap, int]]):
        self.regions = sorted(regions, key=lambda r: r[0])
        self.size = sum(r[1] for r in regions)

    def view(self, gpa: int, length: int) -> memoryview:
        """A writable view of [gpa, gpa+length) that lies wholly inside one region."""
        if length < 0 or gpa < 0:
            raise GuestFault(f"bad range {gpa:#x}+{length:#x}")
        for start, size, buf, off in self.regions:
            if start <= gpa and gpa + length <= start + size:
                o = off + gpa - start
                return memoryview(buf)[o : o + length]
        raise GuestFault(f"range {gpa:#x}+{length:#x} outside guest memory")

    def discard(self, gpa: int, length: int) -> None:
        """Drop the host pages behind [gpa, gpa+length) (page-aligned, inside one region):
        they read as zero afterwards and take no host memory until touched.  Raises
        GuestFault outside guest RAM, ValueError when unaligned, OSError from madvise."""
        if gpa % PAGE or length % PAGE or length <= 0:
            raise ValueError(f"discard of {gpa:#x}+{length:#x}: not whole pages")
        self.view(gpa, length)  # inside one region, or GuestFault
        for start, size, buf, off in self.regions:
            if start <= gpa < start + size:
                o = off + gpa - start
                if isinstance(buf, mmap.mmap):  # shared memory: punch a hole in it
                    buf.madvise(mmap.MADV_REMOVE, o, length)
                else:
                    buf[o : o + length] = bytes(length)
                return

    def valid(self, gpa: int, length: int) -> bool:
        try:
            self.view(gpa, length)
            return True
        except GuestFault:
            return False

    def read(self, gpa: int, length: int) -> bytes:
        return bytes(self.view(gpa, length))

    def write(self, gpa: int, data: bytes) -> None:
        self.view(gpa, len(data))[:] = data

    def read_u64(self, gpa: int) -> int:
        return _U64.unpack(self.view(gpa, 8))[0]

    def write_u64(self, gpa: int, value: int) -> None:
        self.view(gpa, 8)[:] = _U64.pack(value & 0xFFFFFFFFFFFFFFFF)

    def read_cstr(self, gpa: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at gpa, without its NUL (at most `limit` bytes).
        GuestFault if it starts outside RAM or runs off the end of its RAM block
        before a NUL (or before `limit` bytes)."""
        if gpa < 0:
            raise GuestFault(f"bad address {gpa:#x}")
        for start, size, buf, off in self.regions:
            if start <= gpa < start + size:
                n = min(limit, start + size - gpa)
                o = off + gpa - start
                nul = buf.find(b"\0", o, o + n)  # mmap and bytearray search in place
                if nul >= 0:
                    return bytes(buf[o:nul])
                if n < limit:
                    raise GuestFault(f"string at {gpa:#x} runs off the end of guest memory")
                return bytes(buf[o : o + n])
        raise GuestFault(f"range {gpa:#x}+0x1 outside guest memory")
