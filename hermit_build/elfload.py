"""Read and check a hermit image with `struct` (boot path: no pyelftools).

`load(path)` reads the ELF header, the program headers, the notes and the PT_LOAD
ranges, nothing else: a huge or endless file costs no more than its headers.
`check(image, ram)` is the one test both loaders run before they start: every
segment and both entry points (uhyve's e_entry, QEMU's PVH note) inside guest RAM.
"""

import errno
import os
import stat
import struct

from .abi import C
from .abi.spec import STRINGS
from .errors import AbiMismatch, HermitError

ELFOSABI_HERMIT = C.IMAGE_OSABI
EM_X86_64 = 62
PT_NULL = 0
PT_LOAD = 1
PT_NOTE = 4
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry QEMU's -kernel starts at

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_NHDR = struct.Struct("<III")
_NOTE_NAME = STRINGS["NOTE_NAME"].encode() + b"\0"
MAX_NOTES = 64 << 10  # bytes of PT_NOTE read: hermit's notes take under 100


class ImageError(HermitError):
    """The file is not a hermit image; the message says why."""


class Segment:
    """A PT_LOAD segment and its bytes from the file.  Plain classes here:
    `typing`/`dataclasses` cost ~10 ms at start-up."""

    __slots__ = ("offset", "vaddr", "paddr", "filesz", "memsz", "data")

    def __init__(self, offset: int, vaddr: int, paddr: int, filesz: int, memsz: int,
                 data: bytes = b""):
        self.offset, self.vaddr, self.paddr = offset, vaddr, paddr
        self.filesz, self.memsz, self.data = filesz, memsz, data


class CpuState:
    """Where the kernel keeps each cpu's descriptor tables and its system call entry
    (its NOTE_CPU_STATE), so that uhyve can load the registers before boot."""

    __slots__ = ("percpu", "percpu_size", "gdt_off", "gdt_size", "tss_off", "tss_size",
                 "idt", "idt_size", "syscall_entry", "star", "fmask", "cs", "ds", "tr")
    FORMAT = struct.Struct("<14Q")

    def __init__(self, desc: bytes):
        for name, value in zip(self.__slots__, self.FORMAT.unpack(desc), strict=True):
            setattr(self, name, value)


class Image:
    __slots__ = ("path", "entry", "segments", "pvh_entry", "cpu_state")

    def __init__(self, path: str, entry: int, segments: list[Segment],
                 pvh_entry: int | None = None, cpu_state: CpuState | None = None):
        self.path, self.entry, self.segments, self.pvh_entry = path, entry, segments, pvh_entry
        self.cpu_state = cpu_state  # the kernel's NOTE_CPU_STATE: uhyve sets the registers

    @property
    def end(self) -> int:
        return max((s.paddr + s.memsz for s in self.segments), default=0)


def shown(path: str) -> str:
    """The path for a one-line message (a 4 KiB path would drown the reason)."""
    return path if len(path) <= 120 else f"{path[:56]}...{path[-56:]}"


_REASONS = {
    errno.ENOENT: "no such file",
    errno.EISDIR: "is a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.ENOTDIR: "a component of the path is not a directory",
    errno.ENAMETOOLONG: "file name too long",
}
_KINDS = [(stat.S_ISDIR, "is a directory"), (stat.S_ISFIFO, "is a FIFO"),
          (stat.S_ISCHR, "is a character device"), (stat.S_ISBLK, "is a block device"),
          (stat.S_ISSOCK, "is a socket")]


def _os_error(path: str, e: OSError) -> ImageError:
    why = _REASONS.get(e.errno or 0) or (e.strerror or str(e)).lower()
    return ImageError(f"{shown(path)}: {why}")


def _regular(path: str, mode: int) -> None:
    for test, what in _KINDS:
        if test(mode):
            if what == "is a directory":
                raise ImageError(f"{shown(path)}: {what}")
            raise ImageError(f"{shown(path)}: {what}, not an image file")
    if not stat.S_ISREG(mode):
        raise ImageError(f"{shown(path)}: not a regular file")


def _open(path: str) -> tuple[int, int]:
    """A read-only fd on the regular file at path, and its size.  Checked with stat
    first (opening a device can act on it) and again on the fd; O_NONBLOCK so that a
    FIFO swapped in between cannot block the open."""
    try:
        _regular(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        raise _os_error(path, e) from None
    try:
        st = os.fstat(fd)
        _regular(path, st.st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _pread(fd: int, path: str, length: int, offset: int) -> bytes:
    """Exactly `length` bytes at `offset`, or fewer at the end of the file."""
    parts, got = [], 0
    try:
        while got < length:
            chunk = os.pread(fd, min(length - got, 1 << 24), offset + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except OSError as e:
        raise ImageError(f"{shown(path)}: cannot read it ({(e.strerror or str(e)).lower()})"
                         ) from None
    return b"".join(parts)


def _pvh_entry(notes: bytes, align: int) -> int | None:
    """The PVH entry point from a PT_NOTE segment's notes, if it has one.  Names and
    descriptors are padded to the segment's alignment, as QEMU reads them."""
    pos, pad = 0, align - 1
    while pos + _NHDR.size <= len(notes):
        namesz, descsz, ntype = _NHDR.unpack_from(notes, pos)
        name_at = pos + _NHDR.size
        desc_at = name_at + (namesz + pad & ~pad)
        if desc_at + descsz > len(notes):
            return None
        if ntype == XEN_ELFNOTE_PHYS32_ENTRY and notes[name_at:name_at + namesz] == b"Xen\0":
            if descsz not in (4, 8):
                return None
            return int.from_bytes(notes[desc_at:desc_at + 4], "little")
        pos = desc_at + (descsz + pad & ~pad)
    return None


def hermit_notes(data: bytes, off: int, size: int) -> dict[int, bytes]:
    """The descriptors of the notes named NOTE_NAME in data[off:off+size], by type; a
    malformed note ends the list (what the loader does not understand it does not
    use)."""
    end = min(off + size, len(data))
    found: dict[int, bytes] = {}
    while off + _NHDR.size <= end:
        namesz, descsz, ntype = _NHDR.unpack_from(data, off)
        name = off + _NHDR.size
        desc = name + (namesz + 3 & ~3)
        if desc + descsz > end:
            break
        if data[name : name + namesz] == _NOTE_NAME:
            found.setdefault(ntype, data[desc : desc + descsz])
        off = desc + (descsz + 3 & ~3)
    return found


def abi_note(data: bytes, off: int, size: int) -> int | None:
    """The loader ABI version in the notes at data[off:off+size], None without one."""
    desc = hermit_notes(data, off, size).get(C.NOTE_ABI_VERSION)
    return int.from_bytes(desc, "little") if desc is not None and len(desc) == 4 else None


def _check_abi_note(data: bytes, off: int, size: int, path: str) -> None:
    version = abi_note(data, off, size)
    if version is not None and version != C.ABI_VERSION:
        raise AbiMismatch(version, C.ABI_VERSION, path)


def load(path: str, mem: int | None = None) -> Image:
    """Read the image at path; ImageError (one line) if it is not a hermit image or its
    segments reach beyond `mem` bytes of guest memory or the boot mapping (which also
    bounds what is read)."""
    fd, size = _open(path)
    try:
        return _parse(fd, path, size, mem)
    finally:
        os.close(fd)


def _parse(fd: int, path: str, size: int, mem: int | None) -> Image:
    where = shown(path)
    limit = min(mem or C.BOOT_MAPPED_BYTES, C.BOOT_MAPPED_BYTES)
    head = _pread(fd, path, _EHDR.size, 0)
    if len(head) < _EHDR.size or head[:4] != b"\x7fELF":
        raise ImageError(f"{where}: not an ELF file")
    (ident, etype, machine, _v, entry, phoff, _sh, flags, _eh, phentsize, phnum,
     *_rest) = _EHDR.unpack_from(head)
    if ident[4] != 2 or ident[5] != 1 or machine != EM_X86_64:
        raise ImageError(f"{where}: not an x86_64 ELF image (hermit runs x86_64 unikernels only)")
    if ident[7] != ELFOSABI_HERMIT:
        raise ImageError(
            f"{where}: not a hermit image (ELF OSABI {ident[7]:#x}, "
            f"expected {ELFOSABI_HERMIT:#x}); build it with x86_64-hermit-gcc"
        )
    if etype != 2:
        raise ImageError(f"{where}: not an executable (ELF type {etype})")
    if flags:  # QEMU's PVH loader refuses them
        raise ImageError(f"{where}: ELF flags {flags:#x}, but x86_64 defines none "
                         "(a corrupt image?)")
    if phentsize != _PHDR.size or phoff + phnum * phentsize > size:
        raise ImageError(f"{where}: corrupt ELF program headers")
    table = _pread(fd, path, phnum * phentsize, phoff)
    if len(table) < phnum * phentsize:
        raise ImageError(f"{where}: corrupt ELF program headers (truncated file?)")
    loads, pvh, total, cpu = [], None, 0, None
    for i in range(phnum):
        ptype, _flags, off, vaddr, paddr, filesz, memsz, align = _PHDR.unpack_from(
            table, i * phentsize)
        if ptype != PT_NULL and off + filesz > size:  # QEMU reads every segment
            raise ImageError(f"{where}: corrupt ELF segment {i} (truncated file?)")
        if ptype == PT_NOTE and 0 < filesz <= MAX_NOTES:
            notes = _pread(fd, path, filesz, off)
            _check_abi_note(notes, 0, len(notes), path)
            desc = hermit_notes(notes, 0, len(notes)).get(C.NOTE_CPU_STATE)
            if desc is not None and len(desc) == CpuState.FORMAT.size:
                cpu = CpuState(desc)
            # notes are 4- or 8-aligned; QEMU pads by any p_align, we refuse the rest
            if pvh is None and align in (4, 8):
                pvh = _pvh_entry(notes, align)
        if ptype != PT_LOAD or memsz == 0:
            continue
        if filesz > memsz:
            raise ImageError(f"{where}: corrupt ELF segment {i} (more in the file than in memory)")
        if paddr < C.KERNEL_BASE:
            raise ImageError(f"{where}: segment {i} at {paddr:#x} below the kernel base")
        total += filesz
        end = paddr + memsz
        if end > C.BOOT_MAPPED_BYTES or total > C.BOOT_MAPPED_BYTES:
            raise ImageError(f"{where}: segment {i} ends at {end:#x}, beyond the "
                             f"{mib(C.BOOT_MAPPED_BYTES)} the boot page tables map "
                             "(a corrupt image?)")
        if end > limit or total > limit:
            raise ImageError(f"{where} needs {mib(max(end, total))} of guest memory but "
                             f"HERMIT_MEM is {mib(limit)}: raise HERMIT_MEM")
        loads.append((off, vaddr, paddr, filesz, memsz))
    if not loads:
        raise ImageError(f"{where}: no loadable segments")
    ranges = sorted((paddr, paddr + memsz) for _o, _v, paddr, _f, memsz in loads)
    for (_start, end), (nxt, _end) in zip(ranges, ranges[1:], strict=False):
        if nxt < end:  # QEMU refuses these; uhyve would let the later one win
            raise ImageError(f"{where}: loadable segments overlap at {nxt:#x}-{end:#x} "
                             "(a corrupt image?)")
    segments = []
    for off, vaddr, paddr, filesz, memsz in loads:
        data = _pread(fd, path, filesz, off)
        if len(data) < filesz:  # the file shrank while we read it
            raise ImageError(f"{where}: corrupt ELF segment at {paddr:#x} (truncated file?)")
        segments.append(Segment(off, vaddr, paddr, filesz, memsz, data))
    return Image(path, entry, segments, pvh, cpu)


def mib(n: int) -> str:
    """n bytes for a message, in MiB rounded up."""
    return f"{(n + (1 << 20) - 1) >> 20} MiB"


def check(image: Image, ram: int, mem: int | None = None, pvh: bool = False) -> None:
    """Refuse an image that cannot boot in `ram` bytes of RAM from address 0 (`mem`:
    the HERMIT_MEM it comes from, for the message); `pvh`: QEMU starts it at its PVH
    note, uhyve at e_entry.  Both loaders call this before they start anything."""
    where = shown(image.path)
    end = image.end
    if not image.segments:
        raise ImageError(f"{where}: no loadable segments")
    if end > ram:
        raise ImageError(f"{where} needs {mib(end)} of guest memory but HERMIT_MEM is "
                         f"{mib(mem or ram)}: raise HERMIT_MEM")
    if end > C.BOOT_MAPPED_BYTES:
        raise ImageError(f"{where} ends at {end:#x}, beyond the {mib(C.BOOT_MAPPED_BYTES)} "
                         "the boot page tables map: link the image lower")

    def loaded(addr: int) -> bool:
        return any(s.paddr <= addr < s.paddr + s.filesz for s in image.segments)

    if not loaded(image.entry):
        raise ImageError(f"{where}: entry point {image.entry:#x} lies in no loaded segment: "
                         "rebuild it with x86_64-hermit-gcc")
    if pvh and image.pvh_entry is None:
        raise ImageError(f"{where}: no PVH entry note (Xen note 18 in a 4- or 8-aligned "
                         "PT_NOTE), which QEMU needs: rebuild it with x86_64-hermit-gcc")
    if pvh and not loaded(image.pvh_entry or 0):
        raise ImageError(f"{where}: PVH entry point {image.pvh_entry:#x} lies in no loaded "
                         "segment: rebuild it with x86_64-hermit-gcc")
